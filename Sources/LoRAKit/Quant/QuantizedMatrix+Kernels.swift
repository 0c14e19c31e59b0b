import CKernels

/// Errors from converting fp32 data to a block format.
public enum QuantError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The data does not hold rows × cols values, or a dimension is negative.
    case shape(rows: Int, cols: Int, count: Int)
    /// `cols` is not a multiple of the type's block size.
    case ragged(cols: Int, type: GGMLType)
    /// The type cannot be produced by quantization (kept for API stability: every GGMLType can be produced).
    case unsupported(type: GGMLType)

    public var description: String {
        switch self {
        case let .shape(rows, cols, count):
            return "quantize: \(count) values cannot form a \(rows)×\(cols) matrix"
        case let .ragged(cols, type):
            return "quantize: \(cols) columns is not a multiple of the \(type) block size \(type.blockSize)"
        case let .unsupported(type):
            return "quantize: \(type) cannot be produced (supported: \(GGMLType.allCases.map(\.description).joined(separator: ", ")))"
        }
    }
}

extension GGMLType {
    /// The C kernels' type id.
    var lk: lk_type { lk_type(rawValue: rawValue) }
}

extension QuantizedMatrix {
    /// Row `r` converted to fp32 (`cols` values) by the SIMD kernels, bit-identical to gguf-py's
    /// `dequantize`. Empty when `r` is outside `0..<rows`.
    public func dequantizeRow(_ r: Int) -> [Float] {
        guard r >= 0, r < rows, cols > 0 else { return [] }
        return [Float](unsafeUninitializedCapacity: cols) { buf, count in
            withUnsafeBytes { base in
                lk_dequantize_row(type.lk, buf.baseAddress!, base + r * rowBytes, Int64(cols))
            }
            count = cols
        }
    }

    /// The whole matrix in fp32, row-major [rows, cols].
    public func dequantized() -> [Float] {
        let n = rows * cols
        guard n > 0 else { return [] }
        // Rows are contiguous runs of whole blocks, so the matrix is one run of rows * cols values.
        return [Float](unsafeUninitializedCapacity: n) { buf, count in
            withUnsafeBytes { base in lk_dequantize_row(type.lk, buf.baseAddress!, base, Int64(n)) }
            count = n
        }
    }

    /// Quantizes row-major fp32 `data` [rows, cols] to `type` (any GGMLType) with ggml's reference rounding
    /// (`quantize_row_*_ref`, no importance matrix), into newly allocated storage owned by the result.
    public static func quantize(_ data: [Float], rows: Int, cols: Int, as type: GGMLType) throws -> QuantizedMatrix {
        guard rows >= 0, cols >= 0, rows.multipliedReportingOverflow(by: cols) == (data.count, false) else {
            throw QuantError.shape(rows: rows, cols: cols, count: data.count)
        }
        guard type.isComputeType else { throw QuantError.unsupported(type: type) }
        guard let rowBytes = type.rowBytes(cols) else { throw QuantError.ragged(cols: cols, type: type) }
        let storage = ByteStorage.allocate(count: rowBytes * rows) { p in
            data.withUnsafeBufferPointer { x in
                if !x.isEmpty { _ = lk_quantize_row(type.lk, p, x.baseAddress!, Int64(x.count)) }
            }
        }
        guard let m = QuantizedMatrix(type: type, rows: rows, cols: cols, storage: storage, offset: 0) else {
            throw QuantError.shape(rows: rows, cols: cols, count: data.count)
        }
        return m
    }
}
