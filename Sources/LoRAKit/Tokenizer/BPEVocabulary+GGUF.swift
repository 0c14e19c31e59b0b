import Foundation

extension BPEVocabulary {
    /// Builds a vocabulary from GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`).
    ///
    /// Requires `tokenizer.ggml.model` = "gpt2" (byte-level BPE) with `tokens`, `merges` and `pre`;
    /// `token_type` defaults to all normal, `add_bos_token` to false.
    public init(ggufMetadata md: [String: GGUFValue]) throws {
        func key(_ k: String) -> String { "tokenizer.ggml." + k }
        guard let modelValue = md[key("model")] else { throw TokenizerError.missingField(key("model")) }
        guard let model = modelValue.string else {
            throw TokenizerError.invalidField(field: key("model"), problem: "is \(modelValue.typeName), expected string")
        }
        guard model == "gpt2" else { throw TokenizerError.unsupportedModel(model) }
        func strings(_ k: String) throws -> [String] {
            guard let v = md[key(k)] else { throw TokenizerError.missingField(key(k)) }
            guard let a = v.stringArray else {
                throw TokenizerError.invalidField(field: key(k), problem: "is \(v.typeName), expected array[string]")
            }
            return a
        }
        func optionalID(_ k: String) throws -> Int? {
            guard let v = md[key(k)] else { return nil }
            guard let i = v.int else {
                throw TokenizerError.invalidField(field: key(k), problem: "is \(v.typeName), expected an integer")
            }
            return i
        }
        let tokens = try strings("tokens")
        let merges = try strings("merges")
        var types: [Int32]? = nil
        if let v = md[key("token_type")] {
            guard let a = v.intArray, a.count == tokens.count else {
                throw TokenizerError.invalidField(field: key("token_type"),
                                                  problem: "expected \(tokens.count) integers, found \(v.typeName)")
            }
            types = a.map { Int32(truncatingIfNeeded: $0) }
        }
        guard let preValue = md[key("pre")] else { throw TokenizerError.missingField(key("pre")) }
        guard let pre = preValue.string else {
            throw TokenizerError.invalidField(field: key("pre"), problem: "is \(preValue.typeName), expected string")
        }
        var addBOS = false
        if let v = md[key("add_bos_token")] {
            guard let b = v.bool else {
                throw TokenizerError.invalidField(field: key("add_bos_token"), problem: "is \(v.typeName), expected bool")
            }
            addBOS = b
        }
        var template: String?
        if let v = md["tokenizer.chat_template"] {
            guard let s = v.string else {
                throw TokenizerError.invalidField(field: "tokenizer.chat_template", problem: "is \(v.typeName), expected string")
            }
            template = s
        }
        self.init(tokens: tokens, merges: merges, tokenTypes: types,
                  bosID: try optionalID("bos_token_id"), eosID: try optionalID("eos_token_id"),
                  padID: try optionalID("padding_token_id"), unkID: try optionalID("unknown_token_id"),
                  pre: pre, chatTemplate: template, addBOS: addBOS)
        try validate()
    }

    /// Loads the vocabulary of a model: a `.gguf` file's metadata, a `tokenizer.json` file, or a
    /// folder holding `tokenizer.json` (and optionally `tokenizer_config.json`).
    public init(modelPath path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TokenizerError.unreadableFile(path: path, problem: "no such file or folder")
        }
        if isDir.boolValue {
            try self.init(tokenizerJSONPath: (path as NSString).appendingPathComponent("tokenizer.json"))
        } else if path.hasSuffix(".json") {
            try self.init(tokenizerJSONPath: path)
        } else {
            let file: GGUFFile
            do { file = try GGUFFile(path: path) } catch {
                throw TokenizerError.unreadableFile(path: path, problem: "\(error)")
            }
            try self.init(ggufMetadata: file.metadata)
        }
    }
}

extension Tokenizer {
    /// Loads the tokenizer of a model: a `.gguf` file, a `tokenizer.json`, or a Hugging Face folder.
    public convenience init(modelPath path: String) throws {
        try self.init(BPEVocabulary(modelPath: path))
    }
}
