/// A bounds-checked little-endian cursor over mapped bytes. Every read checks the bytes left
/// and throws `FormatError.truncated` naming the field and its offset; nothing is allocated
/// from a length before that length has been checked against the bytes left.
struct ByteReader {
    let path: String
    let base: UnsafeRawPointer
    let count: Int
    /// Current byte offset from `base`.
    var offset: Int
    /// Metadata array items still allowed (bounds memory: each parsed item costs ~24 bytes).
    var itemBudget = ByteReader.maxMetadataItems

    /// Most metadata array items in one file (real tokenizers hold about a million).
    static let maxMetadataItems = 1 << 24

    init(path: String, base: UnsafeRawPointer, count: Int, offset: Int = 0) {
        self.path = path
        self.base = base
        self.count = count
        self.offset = offset
    }

    /// Bytes left after the cursor.
    var remaining: Int { count - offset }

    /// Throws unless `n` more bytes are available for `field`.
    func need(_ n: Int, _ field: @autoclosure () -> String) throws {
        if n < 0 || n > remaining {
            throw FormatError.truncated(path: path, field: field(), offset: offset, needed: n, available: remaining)
        }
    }

    @inline(__always)
    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: @autoclosure () -> String) throws -> T {
        let n = MemoryLayout<T>.size
        try need(n, field())
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: T.self))
        offset += n
        return v
    }

    mutating func u8(_ f: @autoclosure () -> String) throws -> UInt8 { try read(UInt8.self, f()) }
    mutating func u32(_ f: @autoclosure () -> String) throws -> UInt32 { try read(UInt32.self, f()) }
    mutating func u64(_ f: @autoclosure () -> String) throws -> UInt64 { try read(UInt64.self, f()) }
    mutating func i64(_ f: @autoclosure () -> String) throws -> Int64 { try read(Int64.self, f()) }

    mutating func f32(_ f: @autoclosure () -> String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, f()))
    }

    mutating func f64(_ f: @autoclosure () -> String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, f()))
    }

    /// Reads a u64 length, checks it against the bytes left (so 2^63 fails before any
    /// allocation), and returns the length as Int.
    mutating func length(_ field: @autoclosure () -> String, elementBytes: Int = 1) throws -> Int {
        let at = offset
        let raw = try u64(field())
        let left = remaining
        guard raw <= UInt64(Int.max), elementBytes <= 0 || Int(raw) <= left / max(elementBytes, 1) else {
            throw FormatError.invalidValue(path: path, field: field(), offset: at,
                                           message: "length \(raw) exceeds the \(left) bytes left in the file")
        }
        return Int(raw)
    }

    /// Reads a GGUF string: u64 length then that many UTF-8 bytes (invalid sequences repaired).
    mutating func string(_ field: @autoclosure () -> String) throws -> String {
        let n = try length(field())
        let s = String(decoding: UnsafeRawBufferPointer(start: base + offset, count: n), as: UTF8.self)
        offset += n
        return s
    }

    /// Skips `n` bytes (checked).
    mutating func skip(_ n: Int, _ field: @autoclosure () -> String) throws {
        try need(n, field())
        offset += n
    }
}
