import Foundation

/// Element types named in safetensors headers. LoRAKit reads F32, F16 and BF16 tensor data;
/// the others are recognized so a file holding them is validated, but their data is refused.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u64 = "U64", u32 = "U32", u16 = "U16", u8 = "U8"
    case bool = "BOOL", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: return 8
        case .f32, .i32, .u32: return 4
        case .f16, .bf16, .i16, .u16: return 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: return 1
        }
    }

    /// The matching GGML type for the float types LoRAKit reads, else nil.
    public var ggmlType: GGMLType? {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        default: return nil
        }
    }
}

/// One tensor of a safetensors file.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Shape outermost first (a Linear weight is [out, in]).
    public let shape: [Int]
    /// Offset of the data from the start of the file.
    public let fileOffset: Int
    public let byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A safetensors file mapped read-only and validated: header length within a limit, a JSON
/// header of tensor entries whose data ranges tile the data section exactly (contiguous, in
/// bounds, no overlap), and `dtype size × shape product == byte length` for each.
public final class SafetensorsFile: @unchecked Sendable {
    /// Largest JSON header accepted.
    public static let maxHeaderBytes = 100 << 20

    public let path: String
    /// The free-form `__metadata__` strings.
    public let metadata: [String: String]
    /// Tensors in data order.
    public let tensors: [SafetensorsTensorInfo]
    public let storage: ByteStorage
    private let index: [String: Int]

    /// Maps and validates the file at `path`.
    public convenience init(path: String) throws {
        try self.init(path: path, storage: try MappedFile.map(path: path))
    }

    /// Parses and validates safetensors bytes held by `storage`.
    public init(path: String, storage: ByteStorage) throws {
        self.path = path
        self.storage = storage
        var r = ByteReader(path: path, base: storage.base, count: storage.count)
        let n = try r.u64("header length")
        guard n >= 2, n <= UInt64(Self.maxHeaderBytes) else {
            throw FormatError.invalidValue(path: path, field: "header length", offset: 0,
                                           message: "\(n) bytes, expected 2 to \(Self.maxHeaderBytes)")
        }
        try r.need(Int(n), "JSON header")
        let dataStart = 8 + Int(n)
        let json = Data(bytes: storage.base + 8, count: Int(n))
        guard let obj = try? JSONSerialization.jsonObject(with: json), let top = obj as? [String: Any] else {
            throw FormatError.invalidValue(path: path, field: "JSON header", offset: 8, message: "not a JSON object")
        }
        var md: [String: String] = [:]
        var list: [SafetensorsTensorInfo] = []
        for (name, value) in top {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else {
                    throw FormatError.invalidValue(path: path, field: "__metadata__", offset: 8, message: "not an object of strings")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw FormatError.invalidValue(path: path, field: "__metadata__.\(k)", offset: 8, message: "not a string")
                    }
                    md[k] = s
                }
                continue
            }
            list.append(try Self.parseEntry(name: name, value, dataStart: dataStart, path: path))
        }
        list.sort { ($0.fileOffset, $0.byteCount) < ($1.fileOffset, $1.byteCount) }
        var pos = dataStart
        for t in list {
            guard t.fileOffset == pos else {
                throw FormatError.badTensor(path: path, tensor: t.name, message: t.fileOffset < pos
                    ? "data at offset \(t.fileOffset - dataStart) overlaps the previous tensor (ending at \(pos - dataStart))"
                    : "data at offset \(t.fileOffset - dataStart) leaves a gap after offset \(pos - dataStart): offsets must be contiguous")
            }
            let (end, o) = pos.addingReportingOverflow(t.byteCount)
            guard !o, end <= storage.count else {
                throw FormatError.badTensor(path: path, tensor: t.name,
                                            message: "data ends at file offset \(end), past the end of the file (\(storage.count) bytes)")
            }
            pos = end
        }
        guard pos == storage.count else {
            throw FormatError.invalidValue(path: path, field: "data section", offset: pos,
                                           message: "\(storage.count - pos) bytes after the last tensor's data")
        }
        metadata = md
        tensors = list
        index = Dictionary(uniqueKeysWithValues: list.enumerated().map { ($1.name, $0) })
    }

    private static func parseEntry(name: String, _ value: Any, dataStart: Int, path: String) throws -> SafetensorsTensorInfo {
        func bad(_ m: String) -> FormatError { .badTensor(path: path, tensor: name, message: m) }
        guard let e = value as? [String: Any] else { throw bad("header entry is not an object") }
        guard let ds = e["dtype"] as? String else { throw bad("missing dtype") }
        guard let dtype = SafetensorsDType(rawValue: ds) else { throw bad("unknown dtype '\(ds)'") }
        guard let shapeAny = e["shape"] as? [Any], shapeAny.count <= 8 else { throw bad("missing or invalid shape") }
        var shape: [Int] = []
        var count = 1
        for s in shapeAny {
            guard let d = jsonInt(s), d >= 0 else { throw bad("shape \(shapeAny) has an entry that is not a non-negative integer") }
            let (c, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw bad("shape \(shapeAny) overflows") }
            count = c
            shape.append(d)
        }
        guard let offs = e["data_offsets"] as? [Any], offs.count == 2, let b = jsonInt(offs[0]), let en = jsonInt(offs[1]),
              b >= 0, en >= b else { throw bad("data_offsets must be two integers [begin, end] with begin <= end") }
        let (bytes, o1) = count.multipliedReportingOverflow(by: dtype.size)
        guard !o1, bytes == en - b else {
            throw bad("shape \(shape) of \(ds) needs \(o1 ? "too many" : String(bytes)) bytes but data_offsets [\(b), \(en)] hold \(en - b)")
        }
        let (start, o2) = dataStart.addingReportingOverflow(b)
        guard !o2 else { throw bad("data offset \(b) overflows") }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, fileOffset: start, byteCount: bytes)
    }

    /// An integer from JSON (an integral number below 2^53).
    static func jsonInt(_ v: Any) -> Int? {
        guard let n = v as? NSNumber else { return nil }
        let d = n.doubleValue
        guard d == d.rounded(), abs(d) < 9.0e15 else { return nil }
        return n.intValue
    }

    /// Info of tensor `name`, if present.
    public func tensorInfo(named name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// Zero-copy view of tensor `name`'s bytes.
    public func tensorBytes(named name: String) throws -> TensorBytes {
        guard let t = tensorInfo(named: name) else { throw FormatError.missing(path: path, what: "tensor '\(name)'") }
        return TensorBytes(storage: storage, offset: t.fileOffset, count: t.byteCount)
    }

    /// Copies a F32/F16/BF16 tensor's values to floats.
    public func floats(named name: String) throws -> [Float] {
        guard let t = tensorInfo(named: name) else { throw FormatError.missing(path: path, what: "tensor '\(name)'") }
        guard let g = t.dtype.ggmlType, let out = FloatConversion.toFloats(try tensorBytes(named: name), type: g, count: t.elementCount) else {
            throw FormatError.unsupported(path: path, message: "tensor '\(name)' has dtype \(t.dtype.rawValue); only F32, F16 and BF16 are read")
        }
        return out
    }
}
