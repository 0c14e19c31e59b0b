import Foundation

/// The merge tables of a vocabulary and the per-word BPE algorithm.
///
/// A word starts as one symbol per byte; the adjacent pair with the lowest merge rank (leftmost
/// on ties) is merged until no pair has a rule, as Hugging Face `tokenizers` does. Short words
/// use a direct scan, long ones a binary heap of candidate pairs, so a word of n bytes costs
/// O(n log n) at worst.
struct BPEMerger: Sendable {
    /// Token id of each single byte, -1 when the vocabulary lacks it.
    let byteToken: [Int32]                 // [256]
    /// (left << 32 | right) → (rank << 32 | merged id).
    let merges: [UInt64: UInt64]
    /// Whole-word lookup, used only with `ignore_merges`.
    let wordLookup: [[UInt8]: Int32]?

    init(vocabulary v: BPEVocabulary, tokenBytes: [[UInt8]]) throws {
        var normal = [String: Int32]()
        normal.reserveCapacity(v.tokens.count)
        for (i, t) in v.tokens.enumerated() where v.tokenTypes[i] == TokenType.normal.rawValue
            || v.tokenTypes[i] == TokenType.byte.rawValue {
            if normal[t] == nil { normal[t] = Int32(i) }
        }
        var bt = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            // Some vocabularies (SmolLM2) lack a few control bytes; like Hugging Face without an
            // unknown token, such bytes are dropped from the text.
            if let id = normal[String(Character(ByteLevel.byteToScalar[b]))] { bt[b] = id }
        }
        byteToken = bt
        var m = [UInt64: UInt64]()
        m.reserveCapacity(v.merges.count)
        for (rank, rule) in v.merges.enumerated() {
            guard let sp = rule.firstIndex(of: " ") else { throw TokenizerError.invalidMerge(index: rank, merge: rule) }
            let a = String(rule[..<sp]), b = String(rule[rule.index(after: sp)...])
            guard let ia = normal[a], let ib = normal[b], let ic = normal[a + b] else {
                throw TokenizerError.invalidMerge(index: rank, merge: rule)
            }
            let key = UInt64(UInt32(ia)) << 32 | UInt64(UInt32(ib))
            if m[key] == nil { m[key] = UInt64(rank) << 32 | UInt64(UInt32(ic)) }
        }
        merges = m
        if v.ignoreMerges {
            var w = [[UInt8]: Int32]()
            for (_, id) in normal { w[tokenBytes[Int(id)]] = id }
            wordLookup = w
        } else {
            wordLookup = nil
        }
    }

    @inline(__always) func rule(_ a: Int32, _ b: Int32) -> UInt64? {
        merges[UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))]
    }

    /// Appends the token ids of one word to `out`.
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        let n = word.count
        if n == 0 { return }
        if n == 1 {
            let id = byteToken[Int(word[0])]
            if id >= 0 { out.append(id) }
            return
        }
        if let wl = wordLookup, let id = wl[Array(word)] { out.append(id); return }
        var syms = word.map { byteToken[Int($0)] }
        if syms.contains(-1) { syms.removeAll { $0 < 0 } }
        if syms.count <= 48 { encodeShort(syms, into: &out) } else { encodeLong(syms, into: &out) }
    }

    private func encodeShort(_ symbols: [Int32], into out: inout [Int32]) {
        var syms = symbols
        while syms.count > 1 {
            var best = UInt64.max, at = -1
            for k in 0..<(syms.count - 1) {
                if let r = rule(syms[k], syms[k + 1]), r < best { best = r; at = k }
            }
            if at < 0 { break }
            syms[at] = Int32(truncatingIfNeeded: best & 0xFFFF_FFFF)
            syms.remove(at: at + 1)
        }
        out.append(contentsOf: syms)
    }

    private func encodeLong(_ symbols: [Int32], into out: inout [Int32]) {
        let n = symbols.count
        var sym = symbols
        var prev = (0..<n).map { Int32($0) - 1 }
        var next = (0..<n).map { $0 + 1 < n ? Int32($0 + 1) : -1 }
        var alive = [Bool](repeating: true, count: n)
        var heap = MinHeap()   // (rank << 32 | position)
        for k in 0..<(n - 1) {
            if let r = rule(sym[k], sym[k + 1]) { heap.push((r >> 32) << 32 | UInt64(k)) }
        }
        while let top = heap.pop() {
            let pos = Int(top & 0xFFFF_FFFF), rank = top >> 32
            guard alive[pos], next[pos] >= 0 else { continue }
            let nx = Int(next[pos])
            guard let r = rule(sym[pos], sym[nx]), r >> 32 == rank else { continue }
            sym[pos] = Int32(truncatingIfNeeded: r & 0xFFFF_FFFF)
            alive[nx] = false
            next[pos] = next[nx]
            if next[nx] >= 0 { prev[Int(next[nx])] = Int32(pos) }
            if prev[pos] >= 0, let r2 = rule(sym[Int(prev[pos])], sym[pos]) {
                heap.push((r2 >> 32) << 32 | UInt64(prev[pos]))
            }
            if next[pos] >= 0, let r3 = rule(sym[pos], sym[Int(next[pos])]) {
                heap.push((r3 >> 32) << 32 | UInt64(pos))
            }
        }
        var k = 0
        while k >= 0 && k < n { out.append(sym[k]); k = Int(next[k]) }
    }
}

/// A binary min-heap of UInt64 keys.
struct MinHeap {
    private var a = [UInt64]()

    mutating func push(_ x: UInt64) {
        a.append(x)
        var i = a.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if a[p] <= a[i] { break }
            a.swapAt(p, i)
            i = p
        }
    }

    mutating func pop() -> UInt64? {
        guard let first = a.first else { return nil }
        let last = a.removeLast()
        if a.isEmpty { return first }
        a[0] = last
        var i = 0
        let n = a.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && a[l] < a[m] { m = l }
            if r < n && a[r] < a[m] { m = r }
            if m == i { break }
            a.swapAt(m, i)
            i = m
        }
        return first
    }
}

/// A bounded word → ids cache shared by the threads using one tokenizer.
final class WordCache: @unchecked Sendable {
    private let lock = NSLock()
    private var map = [[UInt8]: [Int32]]()
    private let capacity: Int

    init(capacity: Int = 200_000) { self.capacity = capacity }

    func get(_ word: [UInt8]) -> [Int32]? {
        lock.lock(); defer { lock.unlock() }
        return map[word]
    }

    func set(_ word: [UInt8], _ ids: [Int32]) {
        lock.lock(); defer { lock.unlock() }
        if map.count >= capacity { map.removeAll(keepingCapacity: true) }
        map[word] = ids
    }
}
