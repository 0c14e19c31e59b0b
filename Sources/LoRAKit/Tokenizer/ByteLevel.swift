/// GPT-2's reversible byte ↔ character alphabet used by byte-level BPE vocabularies.
///
/// Printable bytes (`!`…`~`, `¡`…`¬`, `®`…`ÿ`) stand for themselves; the other 68 bytes map, in
/// increasing order, to U+0100, U+0101, … so every token string is printable (a space is `Ġ`).
public enum ByteLevel {
    /// The character standing for each byte value.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b) {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a character of the alphabet stands for, or nil when it is not in the alphabet.
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? {
        let v = scalar.value
        if v < 256 {
            if (33...126).contains(v) || (161...172).contains(v) || (174...255).contains(v) { return UInt8(v) }
            return nil
        }
        if v < 256 + 68 { return scalarToByteHigh[Int(v - 256)] }
        return nil
    }

    private static let scalarToByteHigh: [UInt8] = {
        var out = [UInt8](repeating: 0, count: 68)
        for b in 0..<256 {
            let v = byteToScalar[b].value
            if v >= 256 { out[Int(v - 256)] = UInt8(b) }
        }
        return out
    }()

    /// Maps raw bytes to their alphabet string (`"hi there"` → `"hiĠthere"`).
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }

    /// Maps an alphabet string back to bytes; nil when a character is outside the alphabet.
    public static func decode(_ text: String) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(text.unicodeScalars.count)
        for u in text.unicodeScalars {
            guard let b = byte(for: u) else { return nil }
            out.append(b)
        }
        return out
    }
}
