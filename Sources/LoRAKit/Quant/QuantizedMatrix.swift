/// A frozen weight matrix [rows, cols] (a Linear layer's [out, in]) kept in its block format.
/// Rows are contiguous; blocks run along `cols`. Views bytes of a `ByteStorage` without copying.
public struct QuantizedMatrix: @unchecked Sendable {
    public let type: GGMLType
    /// Output features (rows).
    public let rows: Int
    /// Input features (elements per row).
    public let cols: Int
    public let storage: ByteStorage
    /// Byte offset of row 0 inside `storage`.
    public let offset: Int

    /// Bytes of one row.
    public var rowBytes: Int { type.rowBytes(cols) ?? 0 }
    /// Bytes of the whole matrix.
    public var byteCount: Int { rowBytes * rows }

    /// Creates a view; returns nil when the shape does not fit the type or the storage.
    public init?(type: GGMLType, rows: Int, cols: Int, storage: ByteStorage, offset: Int) {
        guard rows >= 0, cols >= 0, offset >= 0, let rb = type.rowBytes(cols) else { return nil }
        let (total, o1) = rb.multipliedReportingOverflow(by: rows)
        let (end, o2) = total.addingReportingOverflow(offset)
        guard !o1, !o2, end <= storage.count else { return nil }
        self.type = type
        self.rows = rows
        self.cols = cols
        self.storage = storage
        self.offset = offset
    }

    /// Calls `body` with a pointer to row 0; the pointer must not escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(storage.base + offset) }
    }
}
