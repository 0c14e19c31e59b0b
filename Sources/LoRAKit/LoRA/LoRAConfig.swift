import Foundation

/// A linear layer LoRA can adapt, by its PEFT module name.
public enum LoRATarget: String, Codable, Sendable, CaseIterable, Comparable {
    case q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj

    /// Index used in seeds and layouts (q=0 … down=6).
    public var index: Int { LoRATarget.allCases.firstIndex(of: self) ?? 0 }
    public static func < (a: LoRATarget, b: LoRATarget) -> Bool { a.index < b.index }

    /// PEFT module path below a decoder layer, e.g. `self_attn.q_proj`, `mlp.down_proj`.
    public var peftPath: String {
        switch self {
        case .q_proj, .k_proj, .v_proj, .o_proj: return "self_attn.\(rawValue)"
        case .gate_proj, .up_proj, .down_proj: return "mlp.\(rawValue)"
        }
    }

    /// GGUF tensor stem, e.g. `attn_q`, `ffn_down`.
    public var ggufName: String {
        switch self {
        case .q_proj: return "attn_q"
        case .k_proj: return "attn_k"
        case .v_proj: return "attn_v"
        case .o_proj: return "attn_output"
        case .gate_proj: return "ffn_gate"
        case .up_proj: return "ffn_up"
        case .down_proj: return "ffn_down"
        }
    }

    /// (out, in) features of this projection for a model.
    public func shape(_ c: LlamaConfig) -> (out: Int, in: Int) {
        switch self {
        case .q_proj: return (c.qDim, c.embeddingLength)
        case .k_proj, .v_proj: return (c.kvDim, c.embeddingLength)
        case .o_proj: return (c.embeddingLength, c.qDim)
        case .gate_proj, .up_proj: return (c.feedForwardLength, c.embeddingLength)
        case .down_proj: return (c.embeddingLength, c.feedForwardLength)
        }
    }
}

/// Errors in a LoRA configuration.
public enum LoRAConfigError: Error, CustomStringConvertible, Equatable {
    case invalidRank(Int)
    case rankTooLarge(rank: Int, target: LoRATarget, out: Int, in: Int)
    case invalidAlpha(Float)
    case invalidDropout(Float)
    case doraWithDropout(Float)
    case unknownTarget(String, known: [String])
    case noTargets
    case quantAwareColumns(target: LoRATarget, in: Int, group: Int)
    case quantAwareWithDoRA
    case quantGridNeedsQuantAware
    case quantGridWithDropout(Float)

    public var description: String {
        switch self {
        case .invalidRank(let r): return "LoRA rank must be at least 1 (got \(r))"
        case .rankTooLarge(let r, let t, let o, let i):
            return "LoRA rank \(r) is larger than \(t.rawValue)'s dimensions (\(o)×\(i)), the smallest of the targets; use a rank ≤ \(min(o, i))"
        case .invalidAlpha(let a): return "LoRA alpha must be a positive finite number (got \(a))"
        case .invalidDropout(let p): return "LoRA dropout must be in [0, 1) (got \(p))"
        case .doraWithDropout(let p):
            return "DoRA is implemented without LoRA dropout (got dropout \(p)); set the dropout to 0"
        case .unknownTarget(let n, let known):
            return "unknown LoRA target module '\(n)'; known: \(known.joined(separator: ", ")), all-linear"
        case .noTargets: return "no LoRA target modules given"
        case .quantAwareColumns(let t, let i, let g):
            return "quant-aware LoRA needs input features in whole \(g)-wide groups; \(t.rawValue) has \(i)"
        case .quantAwareWithDoRA:
            return "quant-aware LoRA and DoRA cannot be combined: DoRA's per-row rescaling is not constant inside a quantization group, so it cannot merge into the block offsets"
        case .quantGridNeedsQuantAware:
            return "grid-exact training (quantGrid) rounds a quant-aware adapter's group-constant change to the Q4_K/Q5_K min grid; it needs quant-aware LoRA (quantAware) on"
        case .quantGridWithDropout(let p):
            return "grid-exact training (quantGrid) trains the merged model, which has no dropout (got dropout \(p)); set the dropout to 0"
        }
    }
}

/// LoRA hyper-parameters, as PEFT names them.
public struct LoRAConfig: Codable, Sendable, Equatable {
    public var rank: Int
    public var alpha: Float
    public var dropout: Float
    /// rsLoRA: scale alpha/sqrt(r) instead of alpha/r.
    public var useRSLoRA: Bool
    public var targets: [LoRATarget]
    /// Seed of the A initialization (and of dropout masks).
    public var seed: UInt64
    /// Quant-aware LoRA (QuantAwareLoRA.swift): A is constant over each `QuantAwareLoRA.groupSize`-wide group
    /// of input columns, so B·A merges exactly into the offsets of a quantized base.
    public var quantAware = false
    /// Grid-exact quant-aware LoRA (QuantGridLoRA.swift, needs `quantAware`): on Q4_K/Q5_K matrices training sees the
    /// change rounded to the 6-bit min grid the in-place merge writes (straight-through), so merged == trained.
    public var quantGrid = false
    /// DoRA (PEFT `use_dora`): a trained magnitude per output row rescales W0 + s·B·A to m/‖W0 + s·B·A‖ per row.
    public var useDoRA: Bool

    public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0, useRSLoRA: Bool = false,
                targets: [LoRATarget] = [.q_proj, .v_proj], seed: UInt64 = 0, useDoRA: Bool = false) {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.useRSLoRA = useRSLoRA
        self.targets = targets.sorted()
        self.seed = seed
        self.useDoRA = useDoRA
    }

    enum CodingKeys: String, CodingKey { case rank, alpha, dropout, useRSLoRA, targets, seed, quantAware, quantGrid, useDoRA }

    /// Decodes a possibly partial configuration (missing keys keep their defaults); `targets` may
    /// also be `"all-linear"` or a comma-separated string.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? rank
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? alpha
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? dropout
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? useRSLoRA
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        quantAware = try c.decodeIfPresent(Bool.self, forKey: .quantAware) ?? quantAware
        quantGrid = try c.decodeIfPresent(Bool.self, forKey: .quantGrid) ?? quantGrid
        useDoRA = try c.decodeIfPresent(Bool.self, forKey: .useDoRA) ?? useDoRA
        if let list = try? c.decodeIfPresent([String].self, forKey: .targets) {
            targets = try LoRAConfig.parseTargets(list)
        } else if let one = try c.decodeIfPresent(String.self, forKey: .targets) {
            targets = try LoRAConfig.parseTargets([one])
        }
    }

    /// The multiplier of B·A: alpha/r, or alpha/√r with rsLoRA.
    public var scale: Float { useRSLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank) }

    /// Parses PEFT module names (`q_proj`, …) or `all-linear`.
    public static func parseTargets(_ names: [String]) throws -> [LoRATarget] {
        var out = Set<LoRATarget>()
        for raw in names.flatMap({ $0.split(separator: ",") }).map({ $0.trimmingCharacters(in: .whitespaces) }) where !raw.isEmpty {
            if raw == "all-linear" || raw == "all_linear" { LoRATarget.allCases.forEach { out.insert($0) }; continue }
            guard let t = LoRATarget(rawValue: raw) else {
                throw LoRAConfigError.unknownTarget(raw, known: LoRATarget.allCases.map(\.rawValue))
            }
            out.insert(t)
        }
        if out.isEmpty { throw LoRAConfigError.noTargets }
        return out.sorted()
    }

    /// Checks the configuration against a model's shapes.
    public func validate(for model: LlamaConfig) throws {
        guard rank >= 1 else { throw LoRAConfigError.invalidRank(rank) }
        guard alpha.isFinite, alpha > 0 else { throw LoRAConfigError.invalidAlpha(alpha) }
        guard dropout.isFinite, dropout >= 0, dropout < 1 else { throw LoRAConfigError.invalidDropout(dropout) }
        guard !useDoRA || dropout == 0 else { throw LoRAConfigError.doraWithDropout(dropout) }
        guard !targets.isEmpty else { throw LoRAConfigError.noTargets }
        // The tightest limit over all targets at once, so one correction is enough.
        if let t = targets.min(by: { min($0.shape(model).out, $0.shape(model).in) < min($1.shape(model).out, $1.shape(model).in) }) {
            let s = t.shape(model)
            if rank > min(s.out, s.in) { throw LoRAConfigError.rankTooLarge(rank: rank, target: t, out: s.out, in: s.in) }
        }
        guard !(quantAware && useDoRA) else { throw LoRAConfigError.quantAwareWithDoRA }
        if quantAware { try QuantAwareLoRA.validate(targets: targets, model: model) }
        guard !quantGrid || quantAware else { throw LoRAConfigError.quantGridNeedsQuantAware }
        guard !quantGrid || dropout == 0 else { throw LoRAConfigError.quantGridWithDropout(dropout) }
    }
}
