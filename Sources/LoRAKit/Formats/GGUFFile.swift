import Foundation

/// One tensor's entry in a GGUF file's tensor-info table.
public struct GGUFTensorInfo: Sendable, Equatable {
    public let name: String
    /// Dimensions innermost first, as stored (a Linear [out, in] has dims [in, out]).
    public let dims: [Int]
    public let type: GGMLType
    /// Offset of the data from the start of the data section.
    public let offset: Int
    /// Offset of the data from the start of the file.
    public let fileOffset: Int
    /// Bytes of data.
    public let byteCount: Int

    /// Number of elements (product of dims).
    public var elementCount: Int { dims.reduce(1, *) }
}

/// A view of a tensor's bytes inside a mapped file (no copy).
public struct TensorBytes: @unchecked Sendable {
    public let storage: ByteStorage
    public let offset: Int
    public let count: Int

    /// Calls `body` with the bytes; the pointer must not escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(UnsafeRawBufferPointer(start: storage.base + offset, count: count)) }
    }
}

/// A GGUF (v2 or v3) file mapped read-only. Everything is validated in `init`; tensor data
/// is handed out as zero-copy views of the map, which lives as long as any view.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: Int
    /// All metadata by key.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Data alignment (`general.alignment`, default 32).
    public let alignment: Int
    /// Byte offset of the data section.
    public let dataOffset: Int
    /// The mapped file.
    public let storage: ByteStorage
    /// End of the last tensor's data beyond the end of the file (opened with `headerOnly`: a header-only or cut-off
    /// download, whose metadata and tensor infos are complete); nil when every tensor's data is in the file.
    public let dataEnd: Int?
    private let index: [String: Int]

    /// File size in bytes.
    public var fileSize: Int { storage.count }

    /// Maps and validates the GGUF file at `path`. With `headerOnly`, tensor data may run past the end of the file
    /// (`dataEnd` says where it would end); reading such a tensor throws.
    public convenience init(path: String, headerOnly: Bool = false) throws {
        try self.init(path: path, storage: try MappedFile.map(path: path), headerOnly: headerOnly)
    }

    /// Parses and validates GGUF bytes held by `storage` (`path` names them in errors).
    public init(path: String, storage: ByteStorage, headerOnly: Bool = false) throws {
        self.path = path
        self.storage = storage
        var r = ByteReader(path: path, base: storage.base, count: storage.count)
        try r.need(4, "magic")
        let magic = [UInt8](UnsafeRawBufferPointer(start: storage.base, count: 4))
        guard magic == Array("GGUF".utf8) else {
            throw FormatError.badMagic(path: path, found: magic.map { String(format: "%02x", $0) }.joined())
        }
        r.offset = 4
        let v = try r.u32("version")
        guard v == 2 || v == 3 else { throw FormatError.unsupportedVersion(path: path, version: Int(v)) }
        version = Int(v)
        let nTensors = try Self.count(&r, field: "tensor count", minEntryBytes: 24, limit: Self.maxTensors)
        let nKV = try Self.count(&r, field: "metadata count", minEntryBytes: 13, limit: Self.maxMetadataKeys)

        var md: [String: GGUFValue] = [:]
        var keys: [String] = []
        md.reserveCapacity(nKV)
        keys.reserveCapacity(nKV)
        for i in 0 ..< nKV {
            let at = r.offset
            let key = try r.string("metadata key #\(i)")
            guard !key.isEmpty else {
                throw FormatError.invalidValue(path: path, field: "metadata key #\(i)", offset: at, message: "empty key")
            }
            let kind = try GGUFValue.readKind(&r, field: "type of '\(key)'")
            let value = try GGUFValue.read(&r, kind: kind, field: "value of '\(key)'")
            guard md.updateValue(value, forKey: key) == nil else {
                throw FormatError.duplicate(path: path, kind: "metadata key", name: key, offset: at)
            }
            keys.append(key)
        }
        metadata = md
        metadataKeys = keys
        try Self.checkKnownKeyTypes(md, path: path)
        alignment = try Self.alignment(md, path: path)

        var raw: [RawTensorInfo] = []
        raw.reserveCapacity(nTensors)
        var names: [String: Int] = [:]
        names.reserveCapacity(nTensors)
        for i in 0 ..< nTensors {
            let t: RawTensorInfo
            do { t = try Self.readTensorInfo(&r, index: i) } catch let e as FormatError {
                // A model of an architecture LoRAKit does not load is reported as that, not as one of its tensor types.
                if let arch = md["general.architecture"]?.string, md["general.type"]?.string != "adapter",
                   !LlamaConfig.supportedArchitectures.contains(arch) {
                    throw FormatError.unsupported(path: path, message: LlamaConfig.unsupportedArchitecture(arch))
                }
                throw e
            }
            guard names.updateValue(i, forKey: t.name) == nil else {
                throw FormatError.duplicate(path: path, kind: "tensor name", name: t.name, offset: t.at)
            }
            raw.append(t)
        }
        let (aligned, o) = r.offset.addingReportingOverflow((alignment - r.offset % alignment) % alignment)
        dataOffset = o ? Int.max : aligned
        if !raw.isEmpty, dataOffset > storage.count {
            throw FormatError.truncated(path: path, field: "data section", offset: r.offset,
                                        needed: dataOffset - r.offset, available: r.remaining)
        }
        tensors = try Self.placeTensors(raw, dataOffset: dataOffset, alignment: alignment,
                                        fileSize: headerOnly ? Int.max : storage.count, path: path)
        let end = tensors.map { $0.fileOffset + $0.byteCount }.max() ?? 0
        dataEnd = end > storage.count ? end : nil
        index = names
    }

    /// Most tensors and metadata keys accepted (real models hold hundreds to a few thousand).
    public static let maxTensors = 1 << 20
    public static let maxMetadataKeys = 1 << 20

    /// Reads an i64 count, rejecting negative values, counts above `limit` and counts the
    /// bytes left cannot hold.
    private static func count(_ r: inout ByteReader, field: String, minEntryBytes: Int, limit: Int) throws -> Int {
        let at = r.offset
        let n = try r.i64(field)
        guard n >= 0, n <= Int64(r.remaining / minEntryBytes) else {
            throw FormatError.invalidValue(path: r.path, field: field, offset: at,
                                           message: "\(n) entries cannot fit in the \(r.remaining) bytes left")
        }
        guard n <= limit else {
            throw FormatError.invalidValue(path: r.path, field: field, offset: at, message: "\(n) entries exceed the limit of \(limit)")
        }
        return Int(n)
    }

    /// Info of tensor `name`, if present.
    public func tensorInfo(named name: String) -> GGUFTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// Throws unless tensor `t`'s data is in the file (a header-only file has none).
    private func checkPresent(_ t: GGUFTensorInfo) throws {
        guard t.fileOffset + t.byteCount <= storage.count else {
            throw FormatError.truncated(path: path, field: "tensor '\(t.name)' data (the file holds only its header: the weights are absent)",
                                        offset: t.fileOffset, needed: t.byteCount, available: max(0, storage.count - t.fileOffset))
        }
    }

    /// Zero-copy view of tensor `name`'s bytes.
    public func tensorBytes(named name: String) throws -> TensorBytes {
        guard let t = tensorInfo(named: name) else { throw FormatError.missing(path: path, what: "tensor '\(name)'") }
        try checkPresent(t)
        return TensorBytes(storage: storage, offset: t.fileOffset, count: t.byteCount)
    }

    /// Zero-copy view of a 2-D tensor (dims [cols, rows]) as a `QuantizedMatrix` [rows, cols].
    /// A 1-D tensor is a single row.
    public func matrix(named name: String) throws -> QuantizedMatrix {
        guard let t = tensorInfo(named: name) else { throw FormatError.missing(path: path, what: "tensor '\(name)'") }
        guard t.dims.count <= 2 || t.dims[2...].allSatisfy({ $0 == 1 }) else {
            throw FormatError.badTensor(path: path, tensor: name, message: "has dims \(t.dims), expected a matrix")
        }
        try checkPresent(t)
        let cols = t.dims[0], rows = t.dims.count > 1 ? t.dims[1] : 1
        guard let m = QuantizedMatrix(type: t.type, rows: rows, cols: cols, storage: storage, offset: t.fileOffset) else {
            throw FormatError.badTensor(path: path, tensor: name, message: "does not fit its type \(t.type) or the file")
        }
        return m
    }

    /// Copies an F32/F16/BF16 tensor's values to floats (for norm weights and small vectors).
    public func floats(named name: String) throws -> [Float] {
        guard let t = tensorInfo(named: name) else { throw FormatError.missing(path: path, what: "tensor '\(name)'") }
        try checkPresent(t)
        let bytes = TensorBytes(storage: storage, offset: t.fileOffset, count: t.byteCount)
        guard let out = FloatConversion.toFloats(bytes, type: t.type, count: t.elementCount) else {
            throw FormatError.badTensor(path: path, tensor: name, message: "type \(t.type) is not a float type (F32/F16/BF16)")
        }
        return out
    }
}
