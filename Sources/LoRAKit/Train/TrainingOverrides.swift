import Foundation

/// A precision as a user chooses it: `auto` resolves on this CPU (`ComputePrecision.preferred`).
public enum PrecisionSetting: String, Codable, Sendable, CaseIterable {
    case auto, fp32, bf16, int8

    public init(_ p: ComputePrecision) {
        switch p {
        case .fp32: self = .fp32
        case .bf16: self = .bf16
        case .int8: self = .int8
        }
    }

    /// The precision a run uses on this CPU.
    public var resolved: ComputePrecision {
        switch self {
        case .auto: return .preferred
        case .fp32: return .fp32
        case .bf16: return .bf16
        case .int8: return .int8
        }
    }
}

/// Settings given explicitly for one run (a command line, a job description): each non-nil field
/// replaces the value of the configuration it is applied to. Resolution order of a run:
/// defaults (or the resumed checkpoint's configuration) → configuration file → overrides.
public struct TrainingOverrides: Sendable, Equatable {
    public var rank: Int?
    public var alpha: Float?
    public var dropout: Float?
    public var useRSLoRA: Bool?
    /// Quant-aware LoRA (`LoRAConfig.quantAware`).
    public var quantAware: Bool?
    /// Grid-exact quant-aware LoRA (`LoRAConfig.quantGrid`).
    public var quantGrid: Bool?
    public var useDoRA: Bool?
    /// LoRA+ learning-rate ratio of B; ≤ 0 turns LoRA+ off.
    public var loraPlusRatio: Float?
    public var targets: [LoRATarget]?
    public var learningRate: Float?
    public var schedule: LRSchedule.Kind?
    public var warmupSteps: Int?
    public var steps: Int?
    public var epochs: Double?
    public var batchSize: Int?
    public var sequenceLength: Int?
    public var gradientAccumulation: Int?
    public var weightDecay: Float?
    /// ≤ 0 disables clipping.
    public var maxGradNorm: Float?
    public var maskPrompt: Bool?
    public var packing: Bool?
    /// Seeds both the data order and the LoRA initialization.
    public var seed: UInt64?
    public var threads: Int?
    public var evalInterval: Int?
    public var evalBatches: Int?
    public var saveInterval: Int?
    public var keepCheckpoints: Int?
    public var nonFiniteLimit: Int?
    public var checkpointing: Bool?
    public var badLines: BadLinePolicy?
    public var chatTemplate: String?
    public var numa: NUMAMode?
    public var precision: PrecisionSetting?

    public init() {}

    /// `config` with every given setting replaced.
    public func applied(to config: TrainingConfig) -> TrainingConfig {
        var c = config
        if let rank { c.lora.rank = rank }
        if let alpha { c.lora.alpha = alpha }
        if let dropout { c.lora.dropout = dropout }
        if let useRSLoRA { c.lora.useRSLoRA = useRSLoRA }
        if let quantAware { c.lora.quantAware = quantAware }
        if let quantGrid { c.lora.quantGrid = quantGrid }
        if let useDoRA { c.lora.useDoRA = useDoRA }
        if let loraPlusRatio { c.optimizer.loraPlusRatio = loraPlusRatio > 0 ? loraPlusRatio : nil }
        if let targets { c.lora.targets = targets.sorted() }
        if let seed { c.seed = seed; c.lora.seed = seed }
        if let learningRate { c.learningRate = learningRate }
        if let schedule { c.schedule = schedule }
        if let warmupSteps { c.warmupSteps = warmupSteps }
        if let steps { c.steps = steps }
        if let epochs { c.epochs = epochs; if steps == nil { c.steps = nil } }
        if let batchSize { c.batchSize = batchSize }
        if let sequenceLength { c.sequenceLength = sequenceLength }
        if let gradientAccumulation { c.gradientAccumulation = gradientAccumulation }
        if let weightDecay { c.optimizer.weightDecay = weightDecay }
        if let maxGradNorm { c.optimizer.maxGradNorm = maxGradNorm > 0 ? maxGradNorm : nil }
        if let maskPrompt { c.maskPrompt = maskPrompt }
        if let packing { c.packing = packing }
        if let threads { c.threads = threads }
        if let evalInterval { c.evalInterval = evalInterval }
        if let evalBatches { c.evalBatches = evalBatches }
        if let saveInterval { c.saveInterval = saveInterval }
        if let keepCheckpoints { c.keepCheckpoints = keepCheckpoints }
        if let nonFiniteLimit { c.nonFiniteLimit = nonFiniteLimit }
        if let checkpointing { c.checkpointing = checkpointing }
        if let badLines { c.badLines = badLines }
        if let chatTemplate { c.chatTemplate = chatTemplate }
        if let numa { c.numa = numa }
        if let precision { c.precision = precision.resolved }
        return c
    }
}

extension TrainingConfig {
    /// The starting point of a run started by a person (`lorakit train`, `TrainingRun`): the library
    /// defaults plus a checkpoint every 25 steps and the fastest accurate precision of this CPU.
    /// (`TrainingConfig()` stays fp32 with no periodic saves, for code that wants exact PEFT numbers.)
    public static var runDefaults: TrainingConfig {
        var c = TrainingConfig()
        c.saveInterval = 25
        c.precision = .preferred
        return c
    }

    /// Resolves a run's settings: `base` (defaults or a resumed checkpoint's configuration), then the
    /// configuration file (strict: unknown keys and wrong types are errors), then `overrides`; validated.
    public static func resolve(base: TrainingConfig, file: String? = nil, overrides: TrainingOverrides = .init()) throws -> TrainingConfig {
        var c = base
        if let file { c = try TrainingConfig.load(file: file, over: c) }
        c = overrides.applied(to: c)
        try c.validate()
        return c
    }
}
