import Foundation

extension BPEVocabulary {
    /// Loads a Hugging Face `tokenizer.json`; a `tokenizer_config.json` next to it, when present,
    /// supplies the BOS/EOS/pad tokens, `add_bos_token` and the chat template.
    public init(tokenizerJSONPath path: String) throws {
        let url = URL(fileURLWithPath: path)
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadableFile(path: path, problem: "cannot read (\(error.localizedDescription))")
        }
        let configURL = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json")
        let config = try? Data(contentsOf: configURL)
        try self.init(tokenizerJSON: data, config: config, source: path)
    }

    /// Builds a vocabulary from the bytes of a `tokenizer.json` (model type BPE) and optionally of
    /// its `tokenizer_config.json`. `source` names the file in errors.
    public init(tokenizerJSON data: Data, config: Data? = nil, source: String = "tokenizer.json") throws {
        func fail(_ problem: String) -> TokenizerError { .unreadableFile(path: source, problem: problem) }
        let rootAny: Any
        do { rootAny = try JSONSerialization.jsonObject(with: data) } catch {
            throw fail("invalid JSON (\(error.localizedDescription))")
        }
        guard let root = rootAny as? [String: Any] else { throw fail("top level is not an object") }
        guard let model = root["model"] as? [String: Any] else { throw TokenizerError.missingField("model") }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw TokenizerError.unsupportedModel(type) }
        var nfc = false
        if let norm = root["normalizer"], !(norm is NSNull) {
            let t = (norm as? [String: Any])?["type"] as? String ?? "?"
            guard t == "NFC" else {
                throw TokenizerError.invalidField(field: "normalizer", problem: "normalizer '\(t)' is not supported (only NFC)")
            }
            nfc = true
        }
        guard let vocab = model["vocab"] as? [String: Any] else { throw TokenizerError.missingField("model.vocab") }
        guard let mergesAny = model["merges"] as? [Any] else { throw TokenizerError.missingField("model.merges") }

        // Ids: the model's vocabulary plus added tokens (which may extend it).
        var byID = [Int: (String, Int32)]()
        byID.reserveCapacity(vocab.count + 300)
        var maxID = -1
        for (tok, v) in vocab {
            guard let id = (v as? NSNumber)?.intValue, id >= 0 else {
                throw TokenizerError.invalidField(field: "model.vocab", problem: "token '\(tok)' has no valid id")
            }
            byID[id] = (tok, TokenType.normal.rawValue)
            maxID = max(maxID, id)
        }
        for (i, a) in (root["added_tokens"] as? [Any] ?? []).enumerated() {
            guard let a = a as? [String: Any], let id = (a["id"] as? NSNumber)?.intValue, id >= 0,
                  let content = a["content"] as? String else {
                throw TokenizerError.invalidField(field: "added_tokens[\(i)]", problem: "needs an id and a content")
            }
            let special = (a["special"] as? Bool) ?? false
            byID[id] = (content, special ? TokenType.control.rawValue : TokenType.userDefined.rawValue)
            maxID = max(maxID, id)
        }
        guard maxID < 2 * byID.count + 1024 else {
            throw TokenizerError.invalidField(field: "model.vocab", problem: "id \(maxID) is far beyond the \(byID.count) tokens")
        }
        var tokens = [String](repeating: "", count: maxID + 1)
        var types = [Int32](repeating: TokenType.unused.rawValue, count: maxID + 1)
        for (id, (tok, ty)) in byID { tokens[id] = tok; types[id] = ty }

        var merges = [String]()
        merges.reserveCapacity(mergesAny.count)
        for (i, m) in mergesAny.enumerated() {
            if let s = m as? String { merges.append(s) }
            else if let p = m as? [String], p.count == 2 { merges.append(p[0] + " " + p[1]) }
            else { throw TokenizerError.invalidField(field: "model.merges[\(i)]", problem: "is neither \"a b\" nor [a, b]") }
        }
        func idOf(_ s: String) -> Int? {
            if let v = vocab[s] as? NSNumber { return v.intValue }
            return byID.first { $0.value.0 == s }?.key
        }

        let pre = try Self.preTokenizerName(root["pre_tokenizer"])
        var bos: Int?, eos: Int?, pad: Int?
        var addBOS = false
        if let single = Self.templateSingle(root["post_processor"]), let first = single.first as? [String: Any],
           let sp = first["SpecialToken"] as? [String: Any], let name = sp["id"] as? String, let id = idOf(name) {
            bos = id
            addBOS = true
        }
        var chatTemplate: String?
        if let config, let c = try? JSONSerialization.jsonObject(with: config) as? [String: Any] {
            func tokenName(_ v: Any?) -> String? {
                if let s = v as? String { return s }
                return (v as? [String: Any])?["content"] as? String
            }
            if let n = tokenName(c["bos_token"]), let id = idOf(n) { bos = id }
            if let n = tokenName(c["eos_token"]), let id = idOf(n) { eos = id }
            if let n = tokenName(c["pad_token"]), let id = idOf(n) { pad = id }
            if let b = c["add_bos_token"] as? Bool { addBOS = b }
            if let t = c["chat_template"] as? String { chatTemplate = t }
            else if let list = c["chat_template"] as? [[String: Any]] {
                chatTemplate = (list.first { $0["name"] as? String == "default" } ?? list.first)?["template"] as? String
            }
        }
        if eos == nil {
            for name in ["<|end_of_text|>", "<|endoftext|>", "</s>", "<|im_end|>"] {
                if let id = idOf(name), types[id] == TokenType.control.rawValue { eos = id; break }
            }
        }
        var unk: Int?
        if let u = model["unk_token"] as? String { unk = idOf(u) }
        self.init(tokens: tokens, merges: merges, tokenTypes: types, bosID: bos, eosID: eos, padID: pad, unkID: unk,
                  pre: pre, chatTemplate: chatTemplate, addBOS: addBOS,
                  ignoreMerges: (model["ignore_merges"] as? Bool) ?? false)
        normalizeNFC = nfc
        try validate()
    }

    /// The `single` template of a TemplateProcessing post-processor (possibly inside a Sequence).
    private static func templateSingle(_ any: Any?) -> [Any]? {
        guard let p = any as? [String: Any] else { return nil }
        if p["type"] as? String == "TemplateProcessing" { return p["single"] as? [Any] }
        if p["type"] as? String == "Sequence", let list = p["processors"] as? [Any] {
            for q in list { if let s = templateSingle(q) { return s } }
        }
        return nil
    }

    /// Maps a tokenizer.json `pre_tokenizer` to one of the GGUF pre-tokenizer names.
    static func preTokenizerName(_ any: Any?) throws -> String {
        func byteLevel(_ d: [String: Any], regex: Bool) -> Bool {
            d["type"] as? String == "ByteLevel" && (d["add_prefix_space"] as? Bool ?? false) == false
                && (d["use_regex"] as? Bool ?? true) == regex
        }
        func describe() -> String {
            guard let any, let data = try? JSONSerialization.data(withJSONObject: any, options: [.sortedKeys]) else {
                return "none"
            }
            return String(decoding: data.prefix(300), as: UTF8.self)
        }
        guard let p = any as? [String: Any] else { throw TokenizerError.unknownPreTokenizer(describe()) }
        if byteLevel(p, regex: true) { return PreTokenizer.gpt2.rawValue }
        if p["type"] as? String == "Sequence", let list = p["pretokenizers"] as? [[String: Any]], list.count == 2 {
            let a = list[0], b = list[1]
            if a["type"] as? String == "Digits", a["individual_digits"] as? Bool == true, byteLevel(b, regex: true) {
                return PreTokenizer.smollm.rawValue
            }
            if a["type"] as? String == "Split", byteLevel(b, regex: false),
               a["behavior"] as? String == "Isolated", (a["invert"] as? Bool ?? false) == false,
               let pattern = (a["pattern"] as? [String: Any])?["Regex"] as? String {
                if pattern == PreTokenizer.llama3Regex { return PreTokenizer.llamaBPE.rawValue }
                if pattern == PreTokenizer.qwen2Regex { return PreTokenizer.qwen2.rawValue }
            }
        }
        throw TokenizerError.unknownPreTokenizer(describe())
    }
}
