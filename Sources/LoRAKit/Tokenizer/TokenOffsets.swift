import Foundation

/// Token ids of a text with the UTF-8 byte offset where each token ends (see
/// ``Tokenizer/encodeWithOffsets(_:addBOS:parseSpecial:)``).
public struct EncodedText: Sendable, Equatable {
    /// The token ids, equal to ``Tokenizer/encode(_:addBOS:parseSpecial:)``'s.
    public var ids: [Int32]
    /// `ends[i]`: the byte offset in the text where token `i` ends; non-decreasing.
    public var ends: [Int]

    public init(ids: [Int32], ends: [Int]) { self.ids = ids; self.ends = ends }

    /// The byte offset where token `i` starts (the end of the one before it).
    @inline(__always) public func start(_ i: Int) -> Int { i == 0 ? 0 : ends[i - 1] }

    /// A 0/1 mask over the tokens: 1 for tokens that start inside one of `spans` (byte ranges,
    /// sorted and disjoint). One pass over tokens and spans.
    public func mask(covering spans: [Range<Int>]) -> [UInt8] {
        var m = [UInt8](repeating: 0, count: ids.count)
        var k = 0
        for i in 0..<ids.count {
            let s = start(i)
            if ends[i] == s { continue }             // an inserted token (BOS) covers no text
            while k < spans.count && spans[k].upperBound <= s { k += 1 }
            if k == spans.count { break }
            if spans[k].contains(s) { m[i] = 1 }
        }
        return m
    }
}

/// Where encoding writes its ids, and (when asked) each token's end offset.
struct TokenSink {
    var ids = [Int32]()
    var ends = [Int]()
    let recordEnds: Bool

    init(recordEnds: Bool) { self.recordEnds = recordEnds }

    mutating func reserve(_ n: Int) {
        ids.reserveCapacity(n)
        if recordEnds { ends.reserveCapacity(n) }
    }

    @inline(__always) mutating func append(_ id: Int32, end: Int) {
        ids.append(id)
        if recordEnds { ends.append(end) }
    }

    /// Gives the tokens appended since `first`, which spell the word `start..<end`, their ends: each
    /// ends where its bytes do (clamped to the word), the last one at the word's end.
    mutating func closeWord(from first: Int, start: Int, end: Int, _ tokenBytes: [[UInt8]]) {
        var pos = start
        for i in first..<ids.count {
            let id = Int(ids[i])
            pos = min(end, pos + (id >= 0 && id < tokenBytes.count ? tokenBytes[id].count : 0))
            ends.append(i == ids.count - 1 ? end : pos)
        }
    }
}

/// Maps byte offsets in the NFC form of a text back to the original text. NFC never composes
/// across an ASCII character (a starter that composes with nothing before it), so the text is cut
/// before each ASCII byte and each piece normalized on its own: offsets at piece starts map exactly,
/// offsets inside a piece to the same distance into the original piece (clamped to it).
struct NFCOffsets {
    private var origStarts = [Int](), normStarts = [Int]()

    init(_ text: UnsafeBufferPointer<UInt8>) {
        var o = 0, nrm = 0
        while o < text.count {
            var e = o + 1
            while e < text.count && text[e] >= 0x80 { e += 1 }
            origStarts.append(o)
            normStarts.append(nrm)
            let piece = UnsafeBufferPointer(rebasing: text[o..<e])
            nrm += piece.allSatisfy({ $0 < 0x80 }) ? piece.count
                : String(decoding: piece, as: UTF8.self).precomposedStringWithCanonicalMapping.utf8.count
            o = e
        }
        origStarts.append(text.count)
        normStarts.append(nrm)
    }

    /// Rewrites end offsets (relative to the normalized text) as offsets in the original text plus `base`.
    func mapEnds(_ ends: inout ArraySlice<Int>, base: Int) {
        var k = 0
        for i in ends.indices {
            let off = ends[i]
            while k + 1 < normStarts.count && normStarts[k + 1] <= off { k += 1 }
            let orig = k + 1 < origStarts.count ? min(origStarts[k] + (off - normStarts[k]), origStarts[k + 1])
                                                : origStarts[k]
            ends[i] = base + orig
        }
    }
}
