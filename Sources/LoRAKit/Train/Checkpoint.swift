import Foundation

/// Which base model a checkpoint belongs to: where it was, its size, and a fingerprint of its
/// configuration and of every tensor's name, type and shape (cheap to compute, independent of the path).
public struct ModelIdentity: Codable, Sendable, Equatable {
    public var path: String
    /// Size in bytes of the model file (nil for a Hugging Face folder).
    public var fileSize: Int64?
    /// FNV-1a 64 (hex) of the config JSON and the tensor list.
    public var fingerprint: String

    public init(path: String, fileSize: Int64?, fingerprint: String) {
        self.path = path
        self.fileSize = fileSize
        self.fingerprint = fingerprint
    }

    /// The identity of loaded weights.
    public init(_ weights: ModelWeights) {
        var h = FNV64()
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        h.add((try? enc.encode(weights.config)) ?? Data())
        h.add(weights.source.format.rawValue)
        func add(_ name: String, _ m: QuantizedMatrix) { h.add("\(name):\(m.type):\(m.rows)x\(m.cols);") }
        add("token_embd", weights.tokenEmbedding)
        if let o = weights.output { add("output", o) }
        h.add("norm:\(weights.outputNorm.count);")
        for (l, layer) in weights.layers.enumerated() {
            for (n, m) in layer.matrices { add("blk.\(l).\(n)", m) }
        }
        let attrs = try? FileManager.default.attributesOfItem(atPath: weights.source.path)
        let isFile = (attrs?[.type] as? FileAttributeType) == .typeRegular
        self.init(path: weights.source.path, fileSize: isFile ? (attrs?[.size] as? NSNumber)?.int64Value : nil,
                  fingerprint: h.hex)
    }
}

/// Which training data a checkpoint's data position refers to.
public struct DataIdentity: Codable, Sendable, Equatable {
    public var path: String
    public var examples: Int
    public var tokens: Int
    /// FNV-1a 64 (hex) of every example's tokens and loss mask.
    public var fingerprint: String

    public init(_ data: TokenizedDataset) {
        var h = FNV64()
        for e in data.examples {
            h.add("\(e.tokens.count);")
            e.tokens.withUnsafeBytes { h.add($0) }
            e.mask.withUnsafeBytes { h.add($0) }
        }
        path = data.path
        examples = data.examples.count
        tokens = data.tokenCount
        fingerprint = h.hex
    }
}

/// Everything about a checkpoint except the float arrays.
public struct CheckpointHeader: Codable, Sendable, Equatable {
    public static let currentFormat = 1
    public var format: Int
    /// Optimizer steps done (1-based step of the last completed update).
    public var step: Int
    public var totalSteps: Int
    /// AdamW's own step count (differs from `step` by the skipped non-finite steps).
    public var optimizerStep: Int
    /// Where the next batch starts.
    public var dataPosition: DataPosition
    public var skippedSteps: Int
    /// Non-finite steps in a row at the time of saving.
    public var nonFiniteRun: Int
    public var parameterCount: Int
    public var config: TrainingConfig
    public var model: ModelIdentity
    public var data: DataIdentity
    /// Ranks of the data-parallel run that wrote it (nil: one process). Absent from single-process files.
    public var worldSize: Int? = nil
}

/// A training run's full state: resuming from it gives the same factors, bit for bit, as never
/// stopping (same seed and thread count). File layout (little endian):
/// `"LKCKPT\0\1"`, u64 header length, header JSON, f32 params [n], f32 AdamW m [n], f32 AdamW v [n],
/// u64 FNV-1a of all preceding bytes.
public struct TrainingCheckpoint: Sendable, Equatable {
    public var header: CheckpointHeader
    public var parameters: [Float]
    public var adamM: [Float]
    public var adamV: [Float]

    static let magic: [UInt8] = Array("LKCKPT".utf8) + [0, 1]

    /// The encoded file.
    public func encoded() throws -> Data {
        var d = Data()
        d.reserveCapacity(8 + 8 + 4096 + 12 * parameters.count + 8)
        try parameters.withUnsafeBufferPointer { p in
            try adamM.withUnsafeBufferPointer { m in
                try adamV.withUnsafeBufferPointer { v in
                    try TrainingCheckpoint.stream(header: header, parameters: p, adamM: m, adamV: v) { d.append(contentsOf: $0) }
                }
            }
        }
        return d
    }

    /// Emits the file's bytes piece by piece (the arrays straight from their buffers), hashing as it
    /// goes: a checkpoint of any size is written without a copy of the state.
    static func stream(header: CheckpointHeader, parameters: UnsafeBufferPointer<Float>, adamM: UnsafeBufferPointer<Float>,
                       adamV: UnsafeBufferPointer<Float>, emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = try enc.encode(header)
        var h = FNV64()
        func out(_ b: UnsafeRawBufferPointer) throws { h.add(b); try emit(b) }
        try TrainingCheckpoint.magic.withUnsafeBytes { try out($0) }
        try withUnsafeBytes(of: UInt64(json.count).littleEndian) { try out($0) }
        try json.withUnsafeBytes { try out($0) }
        for a in [parameters, adamM, adamV] {
            // 1 MiB pieces: the hash and the write buffer stay in cache.
            let raw = UnsafeRawBufferPointer(a)
            var at = 0
            while at < raw.count {
                let n = min(1 << 20, raw.count - at)
                try out(UnsafeRawBufferPointer(rebasing: raw[at ..< at + n]))
                at += n
            }
        }
        try withUnsafeBytes(of: h.value.littleEndian) { try emit($0) }
    }

    /// Decodes and verifies a checkpoint file's bytes; `path` names the file in errors.
    public init(data d: Data, path: String) throws {
        func bad(_ why: String) -> CheckpointError { .corrupt(path, why) }
        guard d.count >= 24 else { throw bad("file is \(d.count) bytes, too short for a checkpoint") }
        guard Array(d.prefix(8)) == TrainingCheckpoint.magic else { throw bad("not a LoRAKit checkpoint (bad magic at offset 0)") }
        let stored = readLE(d, d.count - 8)
        var h = FNV64()
        d.withUnsafeBytes { h.add(UnsafeRawBufferPointer(rebasing: $0[0..<(d.count - 8)])) }
        guard h.value == stored else { throw bad("checksum mismatch (the file is truncated or damaged)") }
        let hlen = readLE(d, 8)
        guard hlen <= UInt64(d.count - 24) else { throw bad("header length \(hlen) at offset 8 exceeds the file") }
        let hEnd = 16 + Int(hlen)
        let header: CheckpointHeader
        do { header = try JSONDecoder().decode(CheckpointHeader.self, from: d.subdata(in: 16..<hEnd)) } catch {
            throw bad("header JSON: \(error)")
        }
        guard header.format == CheckpointHeader.currentFormat else {
            throw bad("format \(header.format) is not supported (this build reads format \(CheckpointHeader.currentFormat))")
        }
        let n = header.parameterCount
        guard n >= 0, n <= (d.count - hEnd - 8) / 12, hEnd + 12 * n + 8 == d.count else {
            throw bad("\(n) parameters do not fit the file's \(d.count) bytes")
        }
        func floats(_ k: Int) -> [Float] {
            let start = hEnd + 4 * n * k
            return d.subdata(in: start..<(start + 4 * n)).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        self.header = header
        parameters = floats(0)
        adamM = floats(1)
        adamV = floats(2)
    }

    public init(header: CheckpointHeader, parameters: [Float], adamM: [Float], adamV: [Float]) {
        self.header = header
        self.parameters = parameters
        self.adamM = adamM
        self.adamV = adamV
    }

    /// Reads and verifies a checkpoint file.
    public static func load(path: String) throws -> TrainingCheckpoint {
        guard let d = FileManager.default.contents(atPath: path) else { throw CheckpointError.unreadable(path) }
        return try TrainingCheckpoint(data: d, path: path)
    }
}

/// Errors reading, writing or matching checkpoints.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case corrupt(String, String)
    case noCheckpoint(String)
    case incompatible(String, [String])

    public var description: String {
        switch self {
        case .unreadable(let p): return "cannot read checkpoint \(p)"
        case .corrupt(let p, let why): return "checkpoint \(p) is damaged: \(why)"
        case .noCheckpoint(let p): return "no checkpoint found in \(p)"
        case .incompatible(let p, let why):
            return "checkpoint \(p) belongs to a different run and cannot be resumed: " + why.joined(separator: "; ")
        }
    }
}

/// FNV-1a 64-bit hash (stable across platforms and runs).
struct FNV64 {
    private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        var v = value
        for b in bytes { v = (v ^ UInt64(b)) &* 0x100_0000_01b3 }
        value = v
    }
    mutating func add(_ d: Data) { d.withUnsafeBytes { add($0) } }
    mutating func add(_ s: String) { add(Data(s.utf8)) }
    var hex: String { String(format: "%016llx", value) }
}

private func readLE(_ d: Data, _ at: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<8 { v |= UInt64(d[d.startIndex + at + i]) << (8 * UInt64(i)) }
    return v
}
