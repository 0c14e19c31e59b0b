import Foundation

/// Everything that defines a training run, as a value: the CLI fills it from flags and an optional
/// JSON config file, a batch job builds it in code. Saved with the run as `run_config.json`.
public struct TrainingConfig: Codable, Sendable, Equatable {
    public var lora: LoRAConfig
    public var optimizer: AdamWConfig
    public var learningRate: Float
    public var schedule: LRSchedule.Kind
    public var warmupSteps: Int
    /// Optimizer steps; when nil, `epochs` decides.
    public var steps: Int?
    public var epochs: Double
    public var batchSize: Int
    public var sequenceLength: Int
    public var gradientAccumulation: Int
    /// Loss only on completions / assistant turns.
    public var maskPrompt: Bool
    public var packing: Bool
    public var seed: UInt64
    /// Worker threads (nil: one per allowed core).
    public var threads: Int?
    /// Validate every N optimizer steps (0: only at the end).
    public var evalInterval: Int
    /// Validation batches per evaluation (0: the whole validation set).
    public var evalBatches: Int
    /// Save a checkpoint every N steps (0: only at the end).
    public var saveInterval: Int
    /// Recompute each layer in backward instead of keeping its activations.
    public var checkpointing: Bool
    public var badLines: BadLinePolicy
    /// Chat template name (nil: the model's own).
    public var chatTemplate: String?
    /// Checkpoints kept in the run's `checkpoints/` folder (the newest ones).
    public var keepCheckpoints: Int = 3
    /// Stop with an error after this many non-finite steps in a row (0: skip them, never stop).
    /// A skipped step leaves the factors and the optimizer untouched either way.
    public var nonFiniteLimit: Int = 10
    /// How workers and frozen weights use NUMA nodes (`--numa`). Never changes the numbers: the
    /// products split their work the same way in every mode (see `NUMAPlan.rowGroupSizes`).
    public var numa: NUMAMode = .auto
    /// Arithmetic of the frozen-weight products (`--precision`). bf16 changes the numbers (about 2^-8
    /// relative per product), so a checkpoint only resumes with the precision it was made with.
    public var precision: ComputePrecision = .fp32

    public init(lora: LoRAConfig = LoRAConfig(), optimizer: AdamWConfig = AdamWConfig(), learningRate: Float = 2e-4,
                schedule: LRSchedule.Kind = .cosine, warmupSteps: Int = 0, steps: Int? = nil, epochs: Double = 1,
                batchSize: Int = 4, sequenceLength: Int = 256, gradientAccumulation: Int = 1, maskPrompt: Bool = true,
                packing: Bool = false, seed: UInt64 = 0, threads: Int? = nil, evalInterval: Int = 0, evalBatches: Int = 0,
                saveInterval: Int = 0, checkpointing: Bool = false, badLines: BadLinePolicy = .fail, chatTemplate: String? = nil) {
        self.lora = lora
        self.optimizer = optimizer
        self.learningRate = learningRate
        self.schedule = schedule
        self.warmupSteps = warmupSteps
        self.steps = steps
        self.epochs = epochs
        self.batchSize = batchSize
        self.sequenceLength = sequenceLength
        self.gradientAccumulation = gradientAccumulation
        self.maskPrompt = maskPrompt
        self.packing = packing
        self.seed = seed
        self.threads = threads
        self.evalInterval = evalInterval
        self.evalBatches = evalBatches
        self.saveInterval = saveInterval
        self.checkpointing = checkpointing
        self.badLines = badLines
        self.chatTemplate = chatTemplate
    }

    enum CodingKeys: String, CodingKey {
        case lora, optimizer, learningRate, schedule, warmupSteps, steps, epochs, batchSize, sequenceLength,
             gradientAccumulation, maskPrompt, packing, seed, threads, evalInterval, evalBatches, saveInterval,
             checkpointing, badLines, chatTemplate, keepCheckpoints, nonFiniteLimit, numa, precision
    }

    /// Decodes a possibly partial configuration: missing keys keep their defaults.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lora = try c.decodeIfPresent(LoRAConfig.self, forKey: .lora) ?? lora
        optimizer = try c.decodeIfPresent(AdamWConfig.self, forKey: .optimizer) ?? optimizer
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? learningRate
        schedule = try c.decodeIfPresent(LRSchedule.Kind.self, forKey: .schedule) ?? schedule
        warmupSteps = try c.decodeIfPresent(Int.self, forKey: .warmupSteps) ?? warmupSteps
        steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? steps
        epochs = try c.decodeIfPresent(Double.self, forKey: .epochs) ?? epochs
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        sequenceLength = try c.decodeIfPresent(Int.self, forKey: .sequenceLength) ?? sequenceLength
        gradientAccumulation = try c.decodeIfPresent(Int.self, forKey: .gradientAccumulation) ?? gradientAccumulation
        maskPrompt = try c.decodeIfPresent(Bool.self, forKey: .maskPrompt) ?? maskPrompt
        packing = try c.decodeIfPresent(Bool.self, forKey: .packing) ?? packing
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
        threads = try c.decodeIfPresent(Int.self, forKey: .threads) ?? threads
        evalInterval = try c.decodeIfPresent(Int.self, forKey: .evalInterval) ?? evalInterval
        evalBatches = try c.decodeIfPresent(Int.self, forKey: .evalBatches) ?? evalBatches
        saveInterval = try c.decodeIfPresent(Int.self, forKey: .saveInterval) ?? saveInterval
        checkpointing = try c.decodeIfPresent(Bool.self, forKey: .checkpointing) ?? checkpointing
        badLines = try c.decodeIfPresent(BadLinePolicy.self, forKey: .badLines) ?? badLines
        chatTemplate = try c.decodeIfPresent(String.self, forKey: .chatTemplate) ?? chatTemplate
        keepCheckpoints = try c.decodeIfPresent(Int.self, forKey: .keepCheckpoints) ?? keepCheckpoints
        nonFiniteLimit = try c.decodeIfPresent(Int.self, forKey: .nonFiniteLimit) ?? nonFiniteLimit
        numa = try c.decodeIfPresent(NUMAMode.self, forKey: .numa) ?? numa
        precision = try c.decodeIfPresent(ComputePrecision.self, forKey: .precision) ?? precision
    }

    /// Options for tokenizing the data of this run.
    public var datasetOptions: DatasetOptions {
        DatasetOptions(badLines: badLines, maskPrompt: maskPrompt, contextLength: sequenceLength + 1, packing: packing,
                       chatTemplate: chatTemplate)
    }

    /// Checks values that do not depend on the model or data.
    public func validate() throws {
        func bad(_ s: String) -> TrainingError { .invalidConfig(s) }
        guard learningRate.isFinite, learningRate > 0 else { throw bad("learning rate must be positive (got \(learningRate))") }
        guard batchSize >= 1 else { throw bad("batch size must be at least 1 (got \(batchSize))") }
        guard sequenceLength >= 2 else { throw bad("sequence length must be at least 2 (got \(sequenceLength))") }
        guard gradientAccumulation >= 1 else { throw bad("gradient accumulation must be at least 1 (got \(gradientAccumulation))") }
        if let s = steps, s < 1 { throw bad("steps must be at least 1 (got \(s))") }
        guard steps != nil || (epochs.isFinite && epochs > 0) else { throw bad("epochs must be positive (got \(epochs))") }
        guard warmupSteps >= 0 else { throw bad("warmup steps must not be negative") }
        guard evalInterval >= 0, evalBatches >= 0, saveInterval >= 0 else { throw bad("intervals must not be negative") }
        guard keepCheckpoints >= 1 else { throw bad("keep checkpoints must be at least 1 (got \(keepCheckpoints))") }
        guard nonFiniteLimit >= 0 else { throw bad("non-finite limit must not be negative (got \(nonFiniteLimit))") }
        if let t = threads, t < 1 || t > 4096 { throw bad("threads must be between 1 and 4096 (got \(t))") }
        guard optimizer.beta1 >= 0, optimizer.beta1 < 1, optimizer.beta2 >= 0, optimizer.beta2 < 1 else {
            throw bad("AdamW betas must be in [0, 1)")
        }
        if let k = optimizer.loraPlusRatio, !(k.isFinite && k > 0) { throw bad("LoRA+ learning-rate ratio must be positive (got \(k))") }
    }
}

/// Errors of a training run.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidConfig(String)
    case noTrainingTargets(String)
    case modelMismatch(String)
    case cancelled
    /// `count` steps in a row had a non-finite loss or gradient (the factors hold the last good step).
    case nonFinite(step: Int, count: Int)

    public var description: String {
        switch self {
        case .invalidConfig(let s): return "invalid training configuration: \(s)"
        case .noTrainingTargets(let p): return "\(p): no token is left to learn from (all masked or empty)"
        case .modelMismatch(let s): return s
        case .cancelled: return "training was stopped"
        case .nonFinite(let step, let n):
            return "stopped at step \(step): \(n) steps in a row had a non-finite loss or gradient (NaN/Inf); they were skipped and the adapter holds the last finite step. Lower the learning rate, check the data and the model's weights, or raise the limit (nonFiniteLimit, 0 = never stop)"
        }
    }
}
