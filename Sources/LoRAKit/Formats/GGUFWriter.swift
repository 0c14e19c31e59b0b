/// Builds a GGUF v3 file: metadata and tensors are added in order, then `write(to:)` streams
/// everything to a temporary file in the destination folder, fsyncs and renames it into place.
/// Inputs are checked as strictly as `GGUFFile` checks files, so what it writes reads back.
public final class GGUFWriter {
    /// Streams a tensor's bytes: call `emit` as often as needed; the total must match the size.
    public typealias ByteSource = (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

    struct PendingTensor {
        var name: String
        var dims: [Int]
        var type: GGMLType
        var byteCount: Int
        var source: ByteSource
    }

    public let alignment: Int
    private var keys: [String] = []
    private var values: [String: GGUFValue] = [:]
    private var tensors: [PendingTensor] = []
    private var tensorNames: Set<String> = []

    /// A writer whose tensor data is aligned to `alignment` (a power of two; stored as
    /// `general.alignment` when not the default 32).
    public init(alignment: Int = 32) throws {
        guard alignment > 0, alignment <= 1 << 20, alignment & (alignment - 1) == 0 else {
            throw FormatError.invalidValue(path: "(GGUF writer)", field: "general.alignment", offset: 0,
                                           message: "\(alignment) is not a power of two between 1 and 2^20")
        }
        self.alignment = alignment
        if alignment != 32 { try set("general.alignment", .uint32(UInt32(alignment))) }
    }

    /// Adds a metadata key (adding a key twice is an error).
    public func set(_ key: String, _ value: GGUFValue) throws {
        guard !key.isEmpty else { throw FormatError.invalidValue(path: "(GGUF writer)", field: "metadata key", offset: 0, message: "empty key") }
        guard values[key] == nil else { throw FormatError.duplicate(path: "(GGUF writer)", kind: "metadata key", name: key, offset: 0) }
        try Self.checkHomogeneous(value, key: key)
        values[key] = value
        keys.append(key)
    }

    /// Adds a tensor whose bytes are given. `dims` innermost first (a matrix [rows, cols] is [cols, rows]).
    public func addTensor(name: String, dims: [Int], type: GGMLType, bytes: [UInt8]) throws {
        try addTensor(name: name, dims: dims, type: type) { emit in
            try bytes.withUnsafeBytes { try emit($0) }
        }
    }

    /// Adds a tensor whose bytes are streamed by `source` while the file is written.
    public func addTensor(name: String, dims: [Int], type: GGMLType, source: @escaping ByteSource) throws {
        let p = "(GGUF writer)"
        guard !name.isEmpty else { throw FormatError.invalidValue(path: p, field: "tensor name", offset: 0, message: "empty name") }
        guard !tensorNames.contains(name) else { throw FormatError.duplicate(path: p, kind: "tensor name", name: name, offset: 0) }
        guard (1 ... GGUFFile.maxDims).contains(dims.count), dims.allSatisfy({ $0 > 0 }) else {
            throw FormatError.invalidValue(path: p, field: "dims of tensor '\(name)'", offset: 0, message: "\(dims) must be 1 to 4 positive sizes")
        }
        guard let rb = type.rowBytes(dims[0]) else {
            throw FormatError.invalidValue(path: p, field: "dims of tensor '\(name)'", offset: 0,
                                           message: "row of \(dims[0]) is not a multiple of the \(type) block size \(type.blockSize)")
        }
        var total = rb
        for d in dims.dropFirst() {
            let (t, o) = total.multipliedReportingOverflow(by: d)
            guard !o else { throw FormatError.invalidValue(path: p, field: "dims of tensor '\(name)'", offset: 0, message: "size overflows") }
            total = t
        }
        tensors.append(PendingTensor(name: name, dims: dims, type: type, byteCount: total, source: source))
        tensorNames.insert(name)
    }

    /// Adds an F32 tensor from floats.
    public func addTensor(name: String, dims: [Int], values: [Float]) throws {
        guard dims.reduce(1, *) == values.count else {
            throw FormatError.badTensor(path: "(GGUF writer)", tensor: name, message: "\(values.count) values given for dims \(dims)")
        }
        try addTensor(name: name, dims: dims, type: .f32) { emit in
            try values.withUnsafeBytes { try emit($0) }   // little-endian hosts only (x86-64, arm64)
        }
    }

    /// Adds a matrix [rows, cols] in its block type (stored with dims [cols, rows]); the bytes
    /// are copied from the matrix's storage while the file is written.
    public func addTensor(name: String, matrix m: QuantizedMatrix) throws {
        try addTensor(name: name, dims: [m.cols, m.rows], type: m.type) { emit in
            try m.withUnsafeBytes { try emit(UnsafeRawBufferPointer(start: $0, count: m.byteCount)) }
        }
    }

    /// Writes the file atomically (temporary file in the same folder, fsync, rename).
    public func write(to path: String) throws {
        var header: [UInt8] = []
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) } }
        func str(_ s: String) { let u = Array(s.utf8); le(UInt64(u.count)); header.append(contentsOf: u) }
        header.append(contentsOf: Array("GGUF".utf8))
        le(UInt32(3))
        le(Int64(tensors.count))
        le(Int64(keys.count))
        for k in keys {
            guard let v = values[k] else { continue }
            str(k)
            le(v.kind.rawValue)
            v.encode(into: &header)
        }
        var offsets: [Int] = []
        var next = 0
        for t in tensors {
            str(t.name)
            le(UInt32(t.dims.count))
            for d in t.dims { le(Int64(d)) }
            le(t.type.rawValue)
            le(UInt64(next))
            offsets.append(next)
            next = Self.align(next + t.byteCount, alignment)
        }
        let pad = Self.align(header.count, alignment) - header.count
        header.append(contentsOf: [UInt8](repeating: 0, count: pad))
        let zeros = [UInt8](repeating: 0, count: alignment)
        try AtomicFileWriter.write(path: path) { emit in
            try header.withUnsafeBytes { try emit($0) }
            var pos = 0
            for (t, off) in zip(tensors, offsets) {
                if off > pos { try zeros.withUnsafeBytes { try emit(UnsafeRawBufferPointer(rebasing: $0[0 ..< (off - pos)])) } }
                var written = 0
                try t.source { chunk in
                    written += chunk.count
                    guard written <= t.byteCount else {
                        throw FormatError.badTensor(path: path, tensor: t.name, message: "source gave more than the \(t.byteCount) bytes its shape needs")
                    }
                    try emit(chunk)
                }
                guard written == t.byteCount else {
                    throw FormatError.badTensor(path: path, tensor: t.name, message: "source gave \(written) bytes, its shape needs \(t.byteCount)")
                }
                pos = off + written
            }
        }
    }

    static func align(_ n: Int, _ a: Int) -> Int { (n + a - 1) / a * a }

    /// Array items must share one type (the file stores a single item type per array).
    static func checkHomogeneous(_ v: GGUFValue, key: String) throws {
        guard case .array(let a) = v else { return }
        if let k = a.first?.kind, a.contains(where: { $0.kind != k }) {
            throw FormatError.invalidValue(path: "(GGUF writer)", field: "value of '\(key)'", offset: 0, message: "array items of mixed types")
        }
        for item in a { try checkHomogeneous(item, key: key) }
    }
}
