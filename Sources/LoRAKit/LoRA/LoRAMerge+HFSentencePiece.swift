import Foundation

/// tokenizer.json for a SentencePiece (GGUF `llama` model) vocabulary, as transformers' `GemmaConverter` /
/// `SpmConverter` write it: a BPE model with byte fallback whose merges are made from the scores (every split of a
/// normal piece into two normal pieces, at code-point boundaries, ranked by the merged piece's score, then its id,
/// then the left part), spaces normalized to "▁" ("▁" prepended first when the file says add_space_prefix),
/// control and user-defined pieces as added tokens matched in the raw text, and a decoder that turns "▁" back into
/// spaces and fuses byte pieces.
///
/// Pieces are compared as UTF-8 bytes, never as Swift strings: Swift's `==` treats canonically equivalent
/// strings (U+09DF and U+09AF U+09BC) as equal, and the vocabulary holds both. For the same reason the JSON is
/// written by hand rather than from a `[String: Any]`.
struct SentencePieceTokenizerFile {
    /// Every piece with its id, in id order.
    var vocab: [(piece: String, id: Int)] = []
    /// Merges in rank order.
    var merges: [(left: String, right: String)] = []
    /// Control, unknown and user-defined pieces: (id, content, special).
    var added: [(id: Int, content: String, special: Bool)] = []
    var unk: String?
    var bos: (piece: String, id: Int)?
    var addSpacePrefix = false

    init(_ v: BPEVocabulary) {
        var normal: [[UInt8]: Int] = [:]
        for (i, t) in v.tokens.enumerated() {
            vocab.append((t, i))
            switch TokenType(rawValue: v.tokenTypes[i]) ?? .normal {
            case .control, .unknown: added.append((i, t, true))
            case .userDefined: added.append((i, t, false))
            case .normal: normal[Array(t.utf8)] = i
            default: break
            }
        }
        let score = { (i: Int) -> Float in i < v.scores.count ? v.scores[i] : 0 }
        var ranked: [(score: Float, id: Int, left: [UInt8], right: [UInt8])] = []
        for (bytes, id) in normal where bytes.count > 1 {
            var k = 1
            while k < bytes.count {
                if bytes[k] & 0xC0 != 0x80 {  // a code-point boundary
                    let l = Array(bytes[..<k]), r = Array(bytes[k...])
                    if normal[l] != nil && normal[r] != nil { ranked.append((score(id), id, l, r)) }
                }
                k += 1
            }
        }
        ranked.sort {
            if $0.score != $1.score { return $0.score > $1.score }
            if $0.id != $1.id { return $0.id < $1.id }
            return $0.left.count < $1.left.count
        }
        merges = ranked.map { (String(decoding: $0.left, as: UTF8.self), String(decoding: $0.right, as: UTF8.self)) }
        unk = v.unkID.map { v.tokens[$0] }
        if v.addBOS, let b = v.bosID { bos = (v.tokens[b], b) }
        addSpacePrefix = v.addSpacePrefix
    }

    /// The tokenizer.json text.
    func json() -> Data {
        var o = "{\n"
        o += "\"version\": \"1.0\", \"truncation\": null, \"padding\": null,\n\"added_tokens\": ["
        o += added.map { "{\"id\": \($0.id), \"content\": \(Self.quote($0.content)), \"single_word\": false, \"lstrip\": false, "
            + "\"rstrip\": false, \"normalized\": false, \"special\": \($0.special)}" }.joined(separator: ",\n")
        o += "],\n"
        let replace = "{\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": \"▁\"}"
        o += "\"normalizer\": " + (addSpacePrefix
            ? "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": \"▁\"}, \(replace)]}" : replace) + ",\n"
        o += "\"pre_tokenizer\": null,\n"
        if let bos {
            let b = Self.quote(bos.piece), s = "{\"SpecialToken\": {\"id\": \(b), \"type_id\": 0}}"
            o += "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [\(s), {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], "
                + "\"pair\": [\(s), {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": \(b), \"type_id\": 1}}, "
                + "{\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {\(b): {\"id\": \(b), \"ids\": [\(bos.id)], "
                + "\"tokens\": [\(b)]}}},\n"
        } else {
            o += "\"post_processor\": null,\n"
        }
        o += "\"decoder\": {\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": \"▁\"}, "
            + "\"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": \"Fuse\"}"
            + (addSpacePrefix ? ", {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}" : "") + "]},\n"
        o += "\"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": \(unk.map(Self.quote) ?? "null"), "
            + "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": true, \"byte_fallback\": true, "
            + "\"ignore_merges\": false,\n\"vocab\": {"
        o += vocab.map { "\(Self.quote($0.piece)): \($0.id)" }.joined(separator: ",\n")
        o += "},\n\"merges\": ["
        o += merges.map { "[\(Self.quote($0.left)), \(Self.quote($0.right))]" }.joined(separator: ",\n")
        o += "]}\n}\n"
        return Data(o.utf8)
    }

    /// A JSON string literal (`JSONText.string`: quotes, backslashes and control characters escaped).
    static func quote(_ s: String) -> String { JSONText.string(s) }
}
