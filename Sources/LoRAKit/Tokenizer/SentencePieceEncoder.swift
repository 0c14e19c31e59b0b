import Foundation

/// SentencePiece BPE (GGUF `tokenizer.ggml.model` = "llama": Llama 2, Mistral, Gemma), encoding
/// exactly as llama.cpp's `llm_tokenizer_spm` does.
///
/// Text between special tokens is one piece: spaces become "▁" (U+2581; with `add_space_prefix`
/// a "▁" also opens a piece that starts the input or follows a special token), the piece starts as
/// one symbol per character, and the adjacent pair whose concatenation is a token with the highest
/// score is merged (leftmost on ties) until no pair forms a token. A symbol that is no token falls
/// back to its bytes as `<0xNN>` tokens. A heap of candidate pairs makes a piece of n characters
/// cost O(n log n).
struct SentencePieceEncoder: Sendable {
    /// Token id of every token text (the last id wins for duplicates, as in llama.cpp).
    private let ids: [ArraySlice<UInt8>: Int32]
    /// Order-preserving integer form of each token's score.
    private let scoreKeys: [UInt32]
    /// The `<0xNN>` token of each byte (or the byte's own token), -1 when there is none.
    private let byteTokens: [Int32]       // [256]
    private let maxTokenBytes: Int
    let addSpacePrefix: Bool

    static let space: [UInt8] = [0xE2, 0x96, 0x81]  // "▁"

    init(vocabulary v: BPEVocabulary) {
        var map = [ArraySlice<UInt8>: Int32]()
        map.reserveCapacity(v.tokens.count)
        var longest = 1
        for (i, t) in v.tokens.enumerated() {
            let b = ArraySlice(Array(t.utf8))
            map[b] = Int32(i)
            longest = max(longest, b.count)
        }
        ids = map
        maxTokenBytes = longest
        scoreKeys = v.scores.map(Self.orderKey)
        let hex = Array("0123456789ABCDEF".utf8)
        byteTokens = (0..<256).map { b in
            let name: [UInt8] = [0x3C, 0x30, 0x78, hex[b >> 4], hex[b & 15], 0x3E]   // <0xNN>
            return map[ArraySlice(name)] ?? map[ArraySlice([UInt8(b)])] ?? -1
        }
        addSpacePrefix = v.addSpacePrefix
    }

    /// Maps a float to a UInt32 with the same order.
    static func orderKey(_ f: Float) -> UInt32 {
        let b = f.bitPattern
        return b & 0x8000_0000 != 0 ? ~b : b | 0x8000_0000
    }

    /// Encodes `text[range]` (no special tokens in it) into `sink`; `prefixSpace` adds the leading "▁".
    func encode(_ text: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, prefixSpace: Bool, into sink: inout TokenSink) {
        if range.isEmpty && !prefixSpace { return }
        // The escaped piece and, per escaped byte, the offset in `text` just after it.
        var esc = [UInt8](), after = [Int]()
        esc.reserveCapacity(range.count + 8)
        if sink.recordEnds { after.reserveCapacity(range.count + 8) }
        if prefixSpace {
            esc += Self.space
            if sink.recordEnds { after += [range.lowerBound, range.lowerBound, range.lowerBound] }
        }
        for i in range {
            if text[i] == 0x20 {
                esc += Self.space
                if sink.recordEnds { after += [i, i, i + 1] }
            } else {
                esc.append(text[i])
                if sink.recordEnds { after.append(i + 1) }
            }
        }
        // Symbols: one per UTF-8 character, as a linked list over byte ranges of `esc`.
        var start = [Int32](), len = [Int32]()
        start.reserveCapacity(esc.count)
        len.reserveCapacity(esc.count)
        var p = 0
        while p < esc.count {
            let b = esc[p]
            let n = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
            start.append(Int32(p))
            len.append(Int32(min(n, esc.count - p)))
            p += n
        }
        let count = start.count
        var next = (0..<count).map { $0 + 1 < count ? Int32($0 + 1) : -1 }
        var prev = (0..<count).map { Int32($0) - 1 }
        var heap = MinHeap()     // (~score key) << 32 | left: highest score first, then leftmost
        esc.withUnsafeBufferPointer { e in
            func pairKey(_ l: Int) -> UInt64? {
                let r = Int(next[l])
                guard r >= 0 else { return nil }
                let a = Int(start[l]), z = Int(start[r] + len[r])
                guard z - a <= maxTokenBytes, let id = ids[ArraySlice(e[a..<z])] else { return nil }
                let s = Int(id) < scoreKeys.count ? scoreKeys[Int(id)] : Self.orderKey(0)
                return UInt64(~s) << 32 | UInt64(l)
            }
            for l in 0..<max(count - 1, 0) { if let k = pairKey(l) { heap.push(k) } }
            while let top = heap.pop() {
                let l = Int(top & 0xFFFF_FFFF)
                // A stale entry (either symbol merged since) no longer matches the pair's current key.
                guard len[l] > 0, let k = pairKey(l), k == top else { continue }
                let r = Int(next[l])
                len[l] += len[r]
                len[r] = 0
                next[l] = next[r]
                if next[r] >= 0 { prev[Int(next[r])] = Int32(l) }
                if prev[l] >= 0, let k2 = pairKey(Int(prev[l])) { heap.push(k2) }
                if let k3 = pairKey(l) { heap.push(k3) }
            }
            var i = count > 0 ? 0 : -1
            while i >= 0 {
                let a = Int(start[i]), z = a + Int(len[i])
                if let id = ids[ArraySlice(e[a..<z])] {
                    sink.ids.append(id)
                    if sink.recordEnds { sink.ends.append(after[z - 1]) }
                } else {
                    for j in a..<z where byteTokens[Int(e[j])] >= 0 {
                        sink.ids.append(byteTokens[Int(e[j])])
                        if sink.recordEnds { sink.ends.append(after[j]) }
                    }
                }
                i = Int(next[i])
            }
        }
    }
}
