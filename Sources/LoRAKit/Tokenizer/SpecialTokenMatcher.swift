/// Finds control / user-defined tokens in text: leftmost, longest first (the lowest id among equal texts).
///
/// A byte trie, so a position costs one table lookup per matched byte however many tokens share a
/// prefix (Gemma has 6,400 special tokens, most starting with "<").
struct SpecialTokenMatcher: Sendable {
    /// Bytes that start some token.
    private let starts: [Bool]                  // [256]
    /// (node << 8 | byte) → child node; node 0 is the root.
    private let edges: [UInt64: Int32]
    /// Per node: the id of the token ending there (any kind / user-defined only), -1 for none.
    private let anyID: [Int32], userID: [Int32]
    let isEmpty: Bool
    let hasUserDefined: Bool

    /// `tokens`: (bytes, id, is control), in id order.
    init(_ tokens: [([UInt8], Int32, Bool)]) {
        var starts = [Bool](repeating: false, count: 256)
        var edges = [UInt64: Int32]()
        var anyID: [Int32] = [-1], userID: [Int32] = [-1]
        for (bytes, id, isControl) in tokens where !bytes.isEmpty {
            starts[Int(bytes[0])] = true
            var node: Int32 = 0
            for b in bytes {
                let key = UInt64(node) << 8 | UInt64(b)
                if let child = edges[key] {
                    node = child
                } else {
                    let child = Int32(anyID.count)
                    anyID.append(-1)
                    userID.append(-1)
                    edges[key] = child
                    node = child
                }
            }
            if anyID[Int(node)] < 0 { anyID[Int(node)] = id }
            if !isControl && userID[Int(node)] < 0 { userID[Int(node)] = id }
        }
        self.starts = starts
        self.edges = edges
        self.anyID = anyID
        self.userID = userID
        isEmpty = tokens.isEmpty
        hasUserDefined = tokens.contains { !$0.2 }
    }

    /// The (length, id) of the longest token starting at `i`, if any; control tokens only when `control`.
    @inline(__always) func match(_ buf: UnsafeBufferPointer<UInt8>, at i: Int, control: Bool) -> (Int, Int32)? {
        guard starts[Int(buf[i])] else { return nil }
        var node: Int32 = 0, k = i
        var best: (Int, Int32)?
        while k < buf.count, let child = edges[UInt64(node) << 8 | UInt64(buf[k])] {
            node = child
            k += 1
            let id = control ? anyID[Int(node)] : userID[Int(node)]
            if id >= 0 { best = (k - i, id) }
        }
        return best
    }
}
