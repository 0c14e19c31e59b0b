import Foundation

/// A tokenizer: byte-level BPE that produces the same ids as Hugging Face `tokenizers` for the
/// supported pre-tokenizers (see ``PreTokenizer``), or SentencePiece BPE (Llama 2, Mistral, Gemma)
/// that produces the same ids as llama.cpp (see ``SentencePieceEncoder``).
///
/// Safe to share between threads; a bounded word cache speeds up repeated words.
public final class Tokenizer: Sendable {
    /// The vocabulary this tokenizer was built from.
    public let vocabulary: BPEVocabulary
    /// The bytes each id decodes to.
    let tokenBytes: [[UInt8]]
    let engine: Engine
    let specials: SpecialTokenMatcher
    let cache = WordCache()

    /// How text between special tokens becomes ids.
    enum Engine: Sendable {
        case byteLevel(PreTokenizer, BPEMerger)
        case sentencePiece(SentencePieceEncoder)
    }

    /// The pre-tokenizer named by the vocabulary (nil for SentencePiece, which has none).
    public var preTokenizer: PreTokenizer? {
        if case .byteLevel(let p, _) = engine { return p }
        return nil
    }

    /// Builds the tokenizer; throws for an unknown pre-tokenizer, a bad merge or a missing byte token.
    public init(_ vocabulary: BPEVocabulary) throws {
        try vocabulary.validate()
        self.vocabulary = vocabulary
        let spm = vocabulary.isSentencePiece
        var tb = [[UInt8]]()
        tb.reserveCapacity(vocabulary.tokens.count)
        var special = [([UInt8], Int32, Bool)]()
        for (i, t) in vocabulary.tokens.enumerated() {
            let type = TokenType(rawValue: vocabulary.tokenTypes[i]) ?? .normal
            switch type {
            case .normal:
                tb.append(spm ? Self.unescapeSpaces(t) : ByteLevel.decode(t) ?? Array(t.utf8))
                if vocabulary.endOfGenerationTextsAreControl && BPEVocabulary.llamaCppEndOfGenerationTexts.contains(t) {
                    special.append((Array(t.utf8), Int32(i), true))
                }
            case .byte:
                if t.hasPrefix("<0x"), t.count == 6, let b = UInt8(t.dropFirst(3).prefix(2), radix: 16) {
                    tb.append([b])
                } else {
                    tb.append(spm ? Self.unescapeSpaces(t) : ByteLevel.decode(t) ?? Array(t.utf8))
                }
            case .control, .userDefined:
                tb.append(Array(t.utf8))
                if !t.isEmpty { special.append((Array(t.utf8), Int32(i), type == .control)) }
            case .unknown, .unused:
                tb.append(Array(t.utf8))
                // llama.cpp matches the unknown token in text like a control token.
                if spm && type == .unknown && !t.isEmpty { special.append((Array(t.utf8), Int32(i), true)) }
            }
        }
        tokenBytes = tb
        if spm {
            engine = .sentencePiece(SentencePieceEncoder(vocabulary: vocabulary))
        } else {
            engine = .byteLevel(try PreTokenizer(name: vocabulary.pre), try BPEMerger(vocabulary: vocabulary, tokenBytes: tb))
        }
        specials = SpecialTokenMatcher(special)
    }

    /// A SentencePiece token's text with "▁" turned back into spaces.
    static func unescapeSpaces(_ t: String) -> [UInt8] {
        var out = [UInt8]()
        let b = Array(t.utf8)
        var i = 0
        while i < b.count {
            if i + 2 < b.count && b[i] == 0xE2 && b[i + 1] == 0x96 && b[i + 2] == 0x81 { out.append(0x20); i += 3 }
            else { out.append(b[i]); i += 1 }
        }
        return out
    }

    /// Loads a Hugging Face `tokenizer.json` (and a `tokenizer_config.json` beside it, if any).
    public convenience init(tokenizerJSONPath path: String) throws {
        try self.init(BPEVocabulary(tokenizerJSONPath: path))
    }

    /// Number of token ids.
    public var vocabularySize: Int { tokenBytes.count }

    /// Encodes text to token ids.
    /// - Parameters:
    ///   - addBOS: prepend the BOS token; nil uses the vocabulary's `addBOS`.
    ///   - parseSpecial: when true, control tokens written in the text (`<|im_start|>`) become
    ///     their ids; otherwise they are encoded as ordinary text. User-defined (non-special added)
    ///     tokens are always matched, as in Hugging Face. Matching is leftmost, longest first.
    public func encode(_ text: String, addBOS: Bool? = nil, parseSpecial: Bool = true) -> [Int32] {
        var sink = TokenSink(recordEnds: false)
        encode(text, addBOS: addBOS, parseSpecial: parseSpecial, into: &sink)
        return sink.ids
    }

    /// Encodes text like ``encode(_:addBOS:parseSpecial:)`` (the same ids) and also returns, for each
    /// token, the UTF-8 byte offset in `text` where its text ends (a BOS token ends at 0). Token `i`
    /// covers `ends[i-1]..<ends[i]`; this maps character spans (chat turns) to tokens.
    public func encodeWithOffsets(_ text: String, addBOS: Bool? = nil, parseSpecial: Bool = true) -> EncodedText {
        var sink = TokenSink(recordEnds: true)
        encode(text, addBOS: addBOS, parseSpecial: parseSpecial, into: &sink)
        return EncodedText(ids: sink.ids, ends: sink.ends)
    }

    private func encode(_ text: String, addBOS: Bool?, parseSpecial: Bool, into sink: inout TokenSink) {
        if addBOS ?? vocabulary.addBOS, let bos = vocabulary.bosID { sink.append(Int32(bos), end: 0) }
        var bytes = Array(text.utf8)
        sink.reserve(bytes.count / 3 + 4)
        var scratch = PreTokenizerScratch()
        bytes.withUnsafeMutableBufferPointer { mbuf in
            let buf = UnsafeBufferPointer(mbuf)
            var start = 0
            if !specials.isEmpty && (parseSpecial || specials.hasUserDefined) {
                var i = 0
                while i < buf.count {
                    if let (len, id) = specials.match(buf, at: i, control: parseSpecial) {
                        encodeText(buf, start..<i, &scratch, &sink)
                        i += len
                        sink.append(id, end: i)
                        start = i
                    } else {
                        i += 1
                    }
                }
            }
            encodeText(buf, start..<buf.count, &scratch, &sink)
        }
    }

    /// Encodes `all[range]`, text that contains no special tokens.
    private func encodeText(_ all: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ scratch: inout PreTokenizerScratch,
                            _ sink: inout TokenSink) {
        if range.isEmpty { return }
        if case .sentencePiece(let spm) = engine {
            // Every piece follows a special token or starts the text (llama.cpp's `is_prev_special`).
            spm.encode(all, range, prefixSpace: spm.addSpacePrefix, into: &sink)
            return
        }
        let text = UnsafeBufferPointer(rebasing: all[range])
        if vocabulary.normalizeNFC && text.contains(where: { $0 >= 0x80 }) {
            var normalized = Array(String(decoding: text, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8)
            if !normalized.elementsEqual(text) {
                let first = sink.ids.count
                normalized.withUnsafeMutableBufferPointer { encodeSplit(UnsafeBufferPointer($0), base: 0, &scratch, &sink) }
                if sink.recordEnds { NFCOffsets(text).mapEnds(&sink.ends[first...], base: range.lowerBound) }
                return
            }
        }
        encodeSplit(text, base: range.lowerBound, &scratch, &sink)
    }

    private func encodeSplit(_ text: UnsafeBufferPointer<UInt8>, base: Int, _ scratch: inout PreTokenizerScratch,
                             _ sink: inout TokenSink) {
        guard case .byteLevel(let preTokenizer, let merger) = engine else { return }
        preTokenizer.split(text, scratch: &scratch) { r in
            let word = UnsafeBufferPointer(rebasing: text[r])
            let before = sink.ids.count
            if word.count == 1 {
                let id = merger.byteToken[Int(word[0])]
                if id >= 0 { sink.ids.append(id) }
            } else if word.count <= 64 {
                let key = Array(word)
                if let hit = cache.get(key) {
                    sink.ids.append(contentsOf: hit)
                } else {
                    merger.encodeWord(word, into: &sink.ids)
                    cache.set(key, Array(sink.ids[before...]))
                }
            } else {
                merger.encodeWord(word, into: &sink.ids)
            }
            if sink.recordEnds { sink.closeWord(from: before, start: base + r.lowerBound, end: base + r.upperBound, tokenBytes) }
        }
    }

    /// The exact bytes the ids stand for (ids outside the vocabulary are skipped).
    public func decodeBytes(_ ids: [Int32]) -> [UInt8] {
        var out = [UInt8]()
        for id in ids where id >= 0 && Int(id) < tokenBytes.count { out.append(contentsOf: tokenBytes[Int(id)]) }
        return out
    }

    /// Decodes ids to text; byte sequences that are not valid UTF-8 become U+FFFD.
    public func decode(_ ids: [Int32]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    /// The vocabulary string of a token (byte alphabet for ordinary tokens, e.g. "Ġthe"), or nil for a bad id.
    public func tokenPiece(_ id: Int32) -> String? {
        guard id >= 0 && Int(id) < vocabulary.tokens.count else { return nil }
        return vocabulary.tokens[Int(id)]
    }

    /// The id of a control or user-defined token written as text (e.g. "<|im_end|>").
    public func specialTokenID(_ text: String) -> Int32? {
        let b = Array(text.utf8)
        guard !b.isEmpty, let (len, id) = b.withUnsafeBufferPointer({ specials.match($0, at: 0, control: true) }),
              len == b.count else { return nil }
        return id
    }
}
