import Foundation

/// tokenizer.json / tokenizer_config.json for a merged HF folder, rebuilt from a ``BPEVocabulary``
/// (the inverse of `BPEVocabulary(tokenizerJSON:)` for the pre-tokenizers LoRAKit supports).
extension LoRAMerge {
    static func preTokenizerJSON(_ pre: String) -> [String: Any] {
        let byteLevel: (Bool) -> [String: Any] = { regex in
            ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": regex]
        }
        switch PreTokenizer(rawValue: pre) {
        case .smollm:
            return ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true], byteLevel(true)]]
        case .llamaBPE, .qwen2:
            let regex = pre == PreTokenizer.qwen2.rawValue ? PreTokenizer.qwen2Regex : PreTokenizer.llama3Regex
            return ["type": "Sequence", "pretokenizers": [
                ["type": "Split", "pattern": ["Regex": regex], "behavior": "Isolated", "invert": false], byteLevel(false)]]
        default:
            return byteLevel(true)
        }
    }

    static func tokenizerJSON(_ v: BPEVocabulary) -> [String: Any] {
        var vocab: [String: Int] = [:]
        var added: [[String: Any]] = []
        for (i, t) in v.tokens.enumerated() {
            let type = TokenType(rawValue: v.tokenTypes[i]) ?? .normal
            if type == .unused && t.isEmpty { continue }
            vocab[t] = i
            if type == .control || type == .userDefined {
                added.append(["id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                              "normalized": type == .userDefined, "special": type == .control])
            }
        }
        var root: [String: Any] = [
            "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
            "normalizer": v.normalizeNFC ? ["type": "NFC"] as Any : NSNull(),
            "pre_tokenizer": preTokenizerJSON(v.pre),
            "decoder": ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true],
            "model": ["type": "BPE", "dropout": NSNull(), "unk_token": v.unkID.map { v.tokens[$0] as Any } ?? NSNull(),
                      "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(), "fuse_unk": false,
                      "byte_fallback": false, "ignore_merges": v.ignoreMerges, "vocab": vocab, "merges": v.merges] as [String: Any],
        ]
        if v.addBOS, let b = v.bosID {
            let bos = v.tokens[b]
            root["post_processor"] = [
                "type": "TemplateProcessing",
                "single": [["SpecialToken": ["id": bos, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]]],
                "pair": [["SpecialToken": ["id": bos, "type_id": 0]], ["Sequence": ["id": "A", "type_id": 0]],
                         ["SpecialToken": ["id": bos, "type_id": 1]], ["Sequence": ["id": "B", "type_id": 1]]],
                "special_tokens": [bos: ["id": bos, "ids": [b], "tokens": [bos]]],
            ] as [String: Any]
        } else {
            root["post_processor"] = ["type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true]
        }
        return root
    }

    static func tokenizerConfigJSON(_ v: BPEVocabulary) -> [String: Any] {
        var d: [String: Any] = ["tokenizer_class": "PreTrainedTokenizerFast", "add_bos_token": v.addBOS,
                                "clean_up_tokenization_spaces": false, "model_max_length": 1_000_000_000]
        if let b = v.bosID { d["bos_token"] = v.tokens[b] }
        if let e = v.eosID { d["eos_token"] = v.tokens[e] }
        if let p = v.padID { d["pad_token"] = v.tokens[p] }
        if let u = v.unkID { d["unk_token"] = v.tokens[u] }
        if let t = v.chatTemplate { d["chat_template"] = t }
        return d
    }
}
