import Foundation

/// Errors of adapter analysis and rank reduction.
public enum AnalyzeError: Error, CustomStringConvertible, Equatable, Sendable {
    /// A LAPACK routine failed on a matrix (`info` as LAPACK returns it; -1000: bad sizes or no memory).
    case lapack(routine: String, matrix: String, info: Int32)
    /// The requested rank is outside 1…r.
    case invalidTargetRank(Int, adapterRank: Int)
    /// The scale alpha/r is not a positive finite number.
    case invalidScale(Float)
    /// The adapter's factors do not fit together (shapes, missing halves, rank larger than a dimension).
    case inconsistentFactors(path: String, key: String, message: String)
    /// The base model's matrix has another shape than the adapter's update.
    case baseShapeMismatch(matrix: String, adapter: [Int], base: [Int])
    /// The output folder is the input adapter's folder.
    case outputIsInput(String)

    public var description: String {
        switch self {
        case let .lapack(routine, matrix, info):
            return "\(matrix): LAPACK \(routine) failed (info \(info))"
        case let .invalidTargetRank(k, r):
            return "the reduced rank must be between 1 and the adapter's rank \(r) (got \(k))"
        case let .invalidScale(s):
            return "the adapter's scale alpha/r is \(s); it must be a positive finite number"
        case let .inconsistentFactors(path, key, message):
            return "\(path): '\(key)': \(message)"
        case let .baseShapeMismatch(m, a, b):
            return "\(m): the adapter's update is \(a) but the base model's matrix is \(b): the adapter was made for a different base model"
        case let .outputIsInput(p):
            return "the output folder \(p) is the adapter's own folder; choose another output folder"
        }
    }
}

/// The two factors of one adapted matrix: ΔW = scale·B·A.
public struct AdapterMatrix: Sendable, Equatable {
    public var layer: Int
    public var target: LoRATarget
    public var outFeatures: Int
    public var inFeatures: Int
    /// A, row-major [r, in].
    public var a: [Float]
    /// B, row-major [out, r] (row order as the source had it: spectra do not depend on it).
    public var b: [Float]

    public init(layer: Int, target: LoRATarget, outFeatures: Int, inFeatures: Int, a: [Float], b: [Float]) {
        self.layer = layer
        self.target = target
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.a = a
        self.b = b
    }

    /// Short name, e.g. `layers.3.q_proj`.
    public var name: String { "layers.\(layer).\(target.rawValue)" }
}

/// The factors of a LoRA adapter, read without a base model: what analysis and rank reduction need.
public struct AdapterFactors: Sendable {
    public var rank: Int
    public var alpha: Float
    public var useRSLoRA: Bool
    /// Adapted matrices sorted by (layer, target).
    public var matrices: [AdapterMatrix]
    /// The source `adapter_config.json` bytes (kept so a reduced copy keeps every other field).
    public var configJSON: Data?

    /// The multiplier of B·A: alpha/r, or alpha/√r with rsLoRA (the same Float arithmetic as `LoRAConfig.scale`).
    public var scale: Float { LoRAConfig(rank: rank, alpha: alpha, useRSLoRA: useRSLoRA).scale }

    public init(rank: Int, alpha: Float, useRSLoRA: Bool, matrices: [AdapterMatrix], configJSON: Data? = nil) {
        self.rank = rank
        self.alpha = alpha
        self.useRSLoRA = useRSLoRA
        self.matrices = matrices.sorted { ($0.layer, $0.target.index) < ($1.layer, $1.target.index) }
        self.configJSON = configJSON
    }

    /// The factors of trained parameters (B rows in GGUF order).
    public init(parameters p: LoRAParameters) {
        let r = p.config.rank
        let ms = p.slots.map { s in
            AdapterMatrix(layer: s.layer, target: s.target, outFeatures: s.outFeatures, inFeatures: s.inFeatures,
                          a: Array(p.values[s.aOffset ..< s.aOffset + r * s.inFeatures]),
                          b: Array(p.values[s.bOffset ..< s.bOffset + s.outFeatures * r]))
        }
        self.init(rank: r, alpha: p.config.alpha, useRSLoRA: p.config.useRSLoRA, matrices: ms)
    }

    /// Reads a PEFT adapter folder without knowing the base model: shapes come from the tensors
    /// (B rows stay in Hugging Face order). The same config checks as `LoRAParameters.loadPEFT`.
    public static func loadPEFT(from dir: String) throws -> AdapterFactors {
        let configPath = dir + "/" + PEFTAdapter.configFileName
        let weightsPath = dir + "/" + PEFTAdapter.weightsFileName
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw AdapterError.io(path: dir, message: "cannot read \(PEFTAdapter.configFileName): not a PEFT adapter folder")
        }
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw AdapterError.io(path: dir, message: "no \(PEFTAdapter.weightsFileName)")
        }
        let cfg = try PEFTConfigFile.parse(data, path: configPath)
        if cfg.useDoRA { throw AdapterError.unsupported(path: configPath, message: "DoRA (use_dora: true): this reads the B·A of plain LoRA adapters") }
        let file = try wrapFormat { try SafetensorsFile(path: weightsPath) }
        let r = cfg.rank
        var halves: [PEFTAdapter.FactorKey: (name: String, shape: [Int])] = [:]
        for t in file.tensors {
            switch PEFTAdapter.parseKey(t.name) {
            case .invalid(let why): throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name, message: why)
            case .magnitude: throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name, message: "a DoRA magnitude, but use_dora is not true")
            case .factor(let k):
                if halves[k] != nil { throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name, message: "names a factor twice") }
                guard t.dtype.ggmlType != nil else {
                    throw AdapterError.unsupportedDType(path: weightsPath, key: t.name, dtype: t.dtype.rawValue)
                }
                guard t.shape.count == 2, t.shape[k.isB ? 1 : 0] == r else {
                    throw AdapterError.rankMismatch(path: weightsPath, key: t.name, expectedRank: r, shape: t.shape)
                }
                halves[k] = (t.name, t.shape)
            }
        }
        var matrices: [AdapterMatrix] = []
        for (k, aHalf) in halves where !k.isB {
            let kb = PEFTAdapter.FactorKey(layer: k.layer, target: k.target, isB: true)
            guard let bHalf = halves[kb] else {
                throw AdapterError.missingTensor(path: weightsPath, key: PEFTAdapter.key(layer: k.layer, target: k.target, isB: true))
            }
            let inF = aHalf.shape[1], outF = bHalf.shape[0]
            guard r <= min(inF, outF) else {
                throw AnalyzeError.inconsistentFactors(path: weightsPath, key: aHalf.name,
                                                       message: "rank \(r) is larger than the matrix's dimensions \(outF)×\(inF)")
            }
            let a = try wrapFormat { try file.floats(named: aHalf.name) }
            let b = try wrapFormat { try file.floats(named: bHalf.name) }
            matrices.append(AdapterMatrix(layer: k.layer, target: k.target, outFeatures: outF, inFeatures: inF, a: a, b: b))
        }
        for k in halves.keys where k.isB && halves[PEFTAdapter.FactorKey(layer: k.layer, target: k.target, isB: false)] == nil {
            throw AdapterError.missingTensor(path: weightsPath, key: PEFTAdapter.key(layer: k.layer, target: k.target, isB: false))
        }
        guard !matrices.isEmpty else {
            throw AdapterError.invalidConfig(path: configPath, field: "target_modules", message: "the adapter holds no LoRA factors")
        }
        return AdapterFactors(rank: r, alpha: cfg.alpha, useRSLoRA: cfg.useRSLoRA, matrices: matrices, configJSON: data)
    }
}
