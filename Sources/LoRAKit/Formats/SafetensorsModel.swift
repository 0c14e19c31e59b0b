import Foundation

/// The safetensors weights of a Hugging Face model folder: one `model.safetensors`, or shards
/// listed by `model.safetensors.index.json` (`weight_map`: tensor name → shard file), or else
/// every `*.safetensors` in the folder. A tensor name may appear in only one shard.
public final class SafetensorsModel: @unchecked Sendable {
    public let directory: String
    /// The mapped shard files.
    public let files: [SafetensorsFile]
    private let location: [String: (file: Int, info: SafetensorsTensorInfo)]

    /// Opens and validates every shard of the model in `directory`.
    public init(directory: String) throws {
        self.directory = directory
        let fm = FileManager.default
        let indexPath = directory + "/model.safetensors.index.json"
        var names: [String]
        var weightMap: [String: String]? = nil
        if fm.fileExists(atPath: indexPath) {
            let data = try HFConfig.readJSONFile(path: indexPath)
            guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let wm = top["weight_map"] as? [String: Any] else {
                throw FormatError.invalidValue(path: indexPath, field: "weight_map", offset: 0, message: "missing or not an object")
            }
            var m: [String: String] = [:]
            for (k, v) in wm {
                guard let f = v as? String, !f.isEmpty, !f.contains("/"), f != "..", f != "." else {
                    throw FormatError.invalidValue(path: indexPath, field: "weight_map.\(k)", offset: 0,
                                                   message: "must name a file in the same folder")
                }
                m[k] = f
            }
            weightMap = m
            names = Array(Set(m.values)).sorted()
        } else if fm.fileExists(atPath: directory + "/model.safetensors") {
            names = ["model.safetensors"]
        } else {
            let all = (try? fm.contentsOfDirectory(atPath: directory)) ?? []
            names = all.filter { $0.hasSuffix(".safetensors") && !$0.hasPrefix(".") }.sorted()
        }
        guard !names.isEmpty else { throw FormatError.missing(path: directory, what: "*.safetensors weights") }
        var files: [SafetensorsFile] = []
        var loc: [String: (file: Int, info: SafetensorsTensorInfo)] = [:]
        for (i, n) in names.enumerated() {
            let f = try SafetensorsFile(path: directory + "/" + n)
            files.append(f)
            for t in f.tensors {
                if let wm = weightMap, wm[t.name] != n { continue }   // listed in another shard (or not at all)
                if let prev = loc[t.name] {
                    throw FormatError.duplicate(path: f.path, kind: "tensor name (also in \(files[prev.file].path))", name: t.name, offset: t.fileOffset)
                }
                loc[t.name] = (i, t)
            }
        }
        if let wm = weightMap {
            for (name, file) in wm where loc[name] == nil {
                throw FormatError.missing(path: directory + "/" + file, what: "tensor '\(name)' listed in model.safetensors.index.json")
            }
        }
        self.files = files
        self.location = loc
    }

    /// All tensor names, sorted.
    public var tensorNames: [String] { location.keys.sorted() }

    /// Info and file of tensor `name`, if present.
    public func locate(_ name: String) -> (file: SafetensorsFile, info: SafetensorsTensorInfo)? {
        location[name].map { (files[$0.file], $0.info) }
    }

    /// Copies a F32/F16/BF16 tensor's values to floats.
    public func floats(named name: String) throws -> [Float] {
        guard let (f, _) = locate(name) else { throw FormatError.missing(path: directory, what: "tensor '\(name)'") }
        return try f.floats(named: name)
    }
}

/// Writes a safetensors file atomically (temporary file in the same folder, fsync, rename).
/// Tensors are stored in the order added, contiguously; the header is padded to 8 bytes.
public final class SafetensorsWriter {
    struct Entry {
        var name: String; var dtype: SafetensorsDType; var shape: [Int]; var byteCount: Int
        var emit: (_ out: (UnsafeRawBufferPointer) throws -> Void) throws -> Void
    }
    private var entries: [Entry] = []
    private var names: Set<String> = []
    /// Free-form strings stored under `__metadata__`.
    public var metadata: [String: String] = [:]

    public init() {}

    private func check(name: String, shape: [Int]) throws -> Int {
        let p = "(safetensors writer)"
        guard !name.isEmpty, name != "__metadata__", !names.contains(name) else {
            throw FormatError.duplicate(path: p, kind: "tensor name", name: name, offset: 0)
        }
        guard shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError.invalidValue(path: p, field: "shape of '\(name)'", offset: 0, message: "\(shape) has a negative size")
        }
        return shape.reduce(1, *)
    }

    /// Adds a tensor from raw little-endian bytes of `dtype`.
    public func add(name: String, dtype: SafetensorsDType, shape: [Int], bytes: [UInt8]) throws {
        let count = try check(name: name, shape: shape)
        guard count * dtype.size == bytes.count else {
            throw FormatError.badTensor(path: "(safetensors writer)", tensor: name,
                                        message: "\(bytes.count) bytes given, shape \(shape) of \(dtype.rawValue) needs \(count * dtype.size)")
        }
        entries.append(Entry(name: name, dtype: dtype, shape: shape, byteCount: bytes.count) { out in
            try bytes.withUnsafeBytes { try out($0) }
        })
        names.insert(name)
    }

    /// Adds a tensor from floats, stored as `dtype` (F32, F16 or BF16, rounded to nearest even).
    public func add(name: String, dtype: SafetensorsDType = .f32, shape: [Int], values: [Float]) throws {
        let count = try check(name: name, shape: shape)
        if values.count != count {
            throw FormatError.badTensor(path: "(safetensors writer)", tensor: name,
                                        message: "\(values.count) values given, shape \(shape) needs \(count)")
        }
        try add(name: name, dtype: dtype, shape: shape, producer: { values })
    }

    /// Adds a tensor whose floats are produced only while the file is written (one tensor at a
    /// time), stored as `dtype` (F32, F16 or BF16): a large adapter is saved without a second copy.
    /// The producer must return exactly `shape`'s element count.
    public func add(name: String, dtype: SafetensorsDType = .f32, shape: [Int], producer: @escaping () throws -> [Float]) throws {
        guard dtype == .f32 || dtype == .f16 || dtype == .bf16 else {
            throw FormatError.unsupported(path: "(safetensors writer)", message: "writing floats as \(dtype.rawValue)")
        }
        let count = try check(name: name, shape: shape)
        entries.append(Entry(name: name, dtype: dtype, shape: shape, byteCount: count * dtype.size) { out in
            let values = try producer()
            guard values.count == count else {
                throw FormatError.badTensor(path: "(safetensors writer)", tensor: name,
                                            message: "\(values.count) values given, shape \(shape) needs \(count)")
            }
            switch dtype {
            case .f32: try values.withUnsafeBytes { try out($0) }   // little-endian hosts only (x86-64, AArch64)
            case .f16: try values.map { FloatConversion.floatToHalf($0).littleEndian }.withUnsafeBytes { try out($0) }
            default: try values.map { FloatConversion.floatToBF16($0).littleEndian }.withUnsafeBytes { try out($0) }
            }
        })
        names.insert(name)
    }

    /// Writes the file.
    public func write(to path: String) throws {
        var header: [String: Any] = [:]
        var pos = 0
        for e in entries {
            header[e.name] = ["dtype": e.dtype.rawValue, "shape": e.shape, "data_offsets": [pos, pos + e.byteCount]] as [String: Any]
            pos += e.byteCount
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        try AtomicFileWriter.write(path: path) { emit in
            try withUnsafeBytes(of: UInt64(json.count).littleEndian) { try emit($0) }
            try json.withUnsafeBytes { try emit($0) }
            for e in entries { try e.emit(emit) }
        }
    }
}
