import Foundation

extension BPEVocabulary {
    /// Builds a vocabulary from GGUF metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`).
    ///
    /// `tokenizer.ggml.model` = "gpt2" (byte-level BPE) needs `tokens`, `merges` and `pre`;
    /// `token_type` defaults to all normal, `add_bos_token` to false. "llama" (SentencePiece BPE)
    /// needs `tokens` and takes `scores` (default 0), `token_type`, `add_space_prefix` (default true)
    /// and `add_bos_token` (default true), as llama.cpp does.
    public init(ggufMetadata md: [String: GGUFValue]) throws {
        func key(_ k: String) -> String { "tokenizer.ggml." + k }
        guard let modelValue = md[key("model")] else { throw TokenizerError.missingField(key("model")) }
        guard let model = modelValue.string else {
            throw TokenizerError.invalidField(field: key("model"), problem: "is \(modelValue.typeName), expected string")
        }
        guard model == "gpt2" || model == "llama" else { throw TokenizerError.unsupportedModel(model) }
        let spm = model == "llama"
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
        let merges = spm ? [] : try strings("merges")
        var types: [Int32]? = nil
        if let v = md[key("token_type")] {
            guard let a = v.intArray, a.count == tokens.count else {
                throw TokenizerError.invalidField(field: key("token_type"),
                                                  problem: "expected \(tokens.count) integers, found \(v.typeName)")
            }
            types = a.map { Int32(truncatingIfNeeded: $0) }
        }
        var pre = "default"
        if let preValue = md[key("pre")] {
            guard let p = preValue.string else {
                throw TokenizerError.invalidField(field: key("pre"), problem: "is \(preValue.typeName), expected string")
            }
            pre = p
        } else if !spm {
            throw TokenizerError.missingField(key("pre"))
        }
        func flag(_ k: String, _ fallback: Bool) throws -> Bool {
            guard let v = md[key(k)] else { return fallback }
            guard let b = v.bool else { throw TokenizerError.invalidField(field: key(k), problem: "is \(v.typeName), expected bool") }
            return b
        }
        let addBOS = try flag("add_bos_token", spm)
        var scores = [Float]()
        if spm, let v = md[key("scores")] {
            guard let a = v.floatArray, a.count == tokens.count else {
                throw TokenizerError.invalidField(field: key("scores"), problem: "expected \(tokens.count) floats, found \(v.typeName)")
            }
            scores = a.map { Float($0) }
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
        self.model = model
        endOfGenerationTextsAreControl = true
        if spm {
            self.scores = scores.isEmpty ? [Float](repeating: 0, count: tokens.count) : scores
            self.addSpacePrefix = try flag("add_space_prefix", true)
        }
        architecture = md["general.architecture"]?.string
        try validate()
    }

    /// Texts llama.cpp treats as end-of-generation markers: when a GGUF has such a token as an ordinary
    /// one, llama.cpp also matches it in text like a control token (e.g. DeepSeek-R1-Distill-Qwen's "</s>").
    public static let llamaCppEndOfGenerationTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>",
        "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>",
        "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[",
    ]

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
            // The tokenizer needs only the metadata: a file whose tensor data is cut off (a header-only
            // download) still gives its tokenizer.
            let metadata: [String: GGUFValue]
            do { metadata = try GGUFFile(path: path).metadata } catch {
                guard let md = try? GGUFMetadataReader.read(path: path) else {
                    throw TokenizerError.unreadableFile(path: path, problem: "\(error)")
                }
                metadata = md
            }
            try self.init(ggufMetadata: metadata)
        }
    }
}

extension Tokenizer {
    /// Loads the tokenizer of a model: a `.gguf` file, a `tokenizer.json`, or a Hugging Face folder.
    public convenience init(modelPath path: String) throws {
        try self.init(BPEVocabulary(modelPath: path))
    }
}
