import Foundation

/// One optimizer step's report.
public struct StepMetrics: Codable, Sendable, Equatable {
    public var step: Int            // 1-based
    public var totalSteps: Int
    public var loss: Double
    public var learningRate: Float
    public var gradNorm: Double
    public var tokens: Int          // input tokens processed this step (B·S·accumulation)
    public var targets: Int         // tokens scored
    public var tokensPerSecond: Double
    public var elapsed: Double      // seconds since the run started
    public var eta: Double          // seconds left, estimated
    public var residentBytes: Int
    public var epoch: Double        // fractional epoch reached
    /// True when the step was skipped because the loss or a gradient was not finite.
    public var skipped: Bool
}

/// A validation pass's report.
public struct EvalMetrics: Codable, Sendable, Equatable {
    public var step: Int
    public var loss: Double
    public var perplexity: Double
    public var targets: Int
}

/// What the training loop tells its observer.
public enum TrainingEvent: Sendable {
    case step(StepMetrics)
    case eval(EvalMetrics)
}

/// The observer's answer: go on or stop after this step (the state stays consistent).
public enum TrainingControl: Sendable { case proceed, stop }

/// Summary of a finished (or stopped) run.
public struct TrainingSummary: Codable, Sendable, Equatable {
    public var steps: Int
    public var stoppedEarly: Bool
    public var finalLoss: Double?
    public var firstValidLoss: Double?
    public var lastValidLoss: Double?
    public var skippedSteps: Int
    public var seconds: Double
    public var peakResidentBytes: Int
}

/// Fine-tunes LoRA factors on a frozen quantized model. Load the model once and run several trainers
/// over it in sequence or side by side: a trainer owns its buffers, pool and optimizer; the model's
/// weights are shared read-only.
public final class LoRATrainer {
    public let model: ModelWeights
    public let config: TrainingConfig
    let pool: ThreadPool
    /// Where the workers run and the frozen weights live (`config.numa` on this machine).
    public let numaPlan: NUMAPlan
    let stepper: LoRAStepper
    public internal(set) var step: Int = 0
    public internal(set) var dataPosition = DataPosition()
    /// Steps skipped so far because the loss or a gradient was not finite (kept across resume).
    public internal(set) var skippedSteps = 0
    /// Non-finite steps in a row just before now.
    var nonFiniteRun = 0
    /// When set, `train` saves a checkpoint every `saveInterval` steps, when stopped, and at the end.
    public var checkpointStore: CheckpointStore?
    /// Path of the last checkpoint `train` saved.
    public internal(set) var lastCheckpointPath: String?
    /// Thread-safe: ask the run to stop after the step in progress (it then saves a checkpoint
    /// when `checkpointStore` is set). Signal handlers and other threads may call `request()`.
    public let stopRequest = StopRequest()
    /// Test hook: return true to poison the gradients of a step (1-based) with NaN.
    var poisonGradients: ((Int) -> Bool)?
    /// The processes of a data-parallel run (`LocalCommunicator`: this one alone). Every rank runs the
    /// same trainer on the same data; rank 0 alone calls the observer and saves checkpoints.
    public let communicator: GradientCommunicator
    let reducer: GradientReducer
    /// Set by `restore` when the checkpoint ran on another number of ranks: what that means.
    public internal(set) var resumeNote: String?

    /// Prepares a run: validates the config against the model and allocates every buffer once.
    /// `adapter` continues from existing factors (for example a loaded PEFT adapter). With a
    /// `communicator` of N ranks, one optimizer step takes `batchSize × gradientAccumulation × N`
    /// sequences, and gives the same factors, bit for bit, as one process with `gradientAccumulation × N`
    /// (same threads per process): see `GradientReducer`.
    public convenience init(model: ModelWeights, config: TrainingConfig, adapter: LoRAParameters? = nil,
                            communicator: GradientCommunicator = LocalCommunicator()) throws {
        try self.init(model: model, config: config, adapter: adapter, topology: NUMATopology.current(), communicator: communicator)
    }

    /// As `init(model:config:adapter:)` on a given NUMA topology (tests inject multi-node machines).
    init(model: ModelWeights, config: TrainingConfig, adapter: LoRAParameters? = nil, topology: NUMATopology,
         communicator: GradientCommunicator = LocalCommunicator()) throws {
        try config.validate()
        try config.lora.validate(for: model.config)
        try LoRATrainer.checkFiniteVectors(model)
        if config.sequenceLength > model.config.contextLength && model.config.contextLength > 0 {
            throw TrainingError.invalidConfig("sequence length \(config.sequenceLength) exceeds the model's context length \(model.config.contextLength)")
        }
        let params = try adapter ?? LoRAParameters(config: config.lora, weights: model)
        if let adapter, adapter.config.rank != config.lora.rank || adapter.config.targets != config.lora.targets
            || adapter.config.useDoRA != config.lora.useDoRA || adapter.config.quantGrid != config.lora.quantGrid {
            throw TrainingError.modelMismatch("the adapter (rank \(adapter.config.rank), targets \(adapter.config.targets.map(\.rawValue))\(adapter.config.useDoRA ? ", DoRA" : "")\(adapter.config.quantGrid ? ", quantGrid" : "")) does not match the run's LoRA config")
        }
        if config.lora.quantGrid, !QuantGridLoRA.hasGrid(weights: model, targets: config.lora.targets) {
            throw TrainingError.invalidConfig("grid-exact training (quantGrid) rounds the change to the 6-bit mins of Q4_K/Q5_K matrices, and none of the adapted matrices is Q4_K or Q5_K (Q4_1/Q5_1 take a quant-aware change exactly without it)")
        }
        self.model = model
        self.config = config
        numaPlan = try NUMAPlan.forRun(topology: topology, threads: config.threads, mode: config.numa)
        pool = ThreadPool(plan: numaPlan, topology: topology)
        stepper = LoRAStepper(weights: try model.placed(by: numaPlan), parameters: params, batch: config.batchSize, sequence: config.sequenceLength,
                              checkpointing: config.checkpointing, optimizer: config.optimizer, pool: pool)
        stepper.graph.precision = config.precision
        template = params
        self.communicator = communicator
        reducer = GradientReducer(communicator: communicator, parameterCount: params.count)
    }

    private let template: LoRAParameters

    /// The current factors (a copy), ready to save.
    public var parameters: LoRAParameters {
        var p = template
        p.values = stepper.values
        return p
    }

    /// The adapter a run saves: the current factors, or with grid-exact quant-aware training the rounded change the
    /// model was trained with (`QuantGridLoRA.savedForm`; the factors themselves stay in the checkpoint).
    public func adapterToSave() throws -> LoRAParameters {
        guard let grid = stepper.graph.quantGrid else { return parameters }
        return try QuantGridLoRA.savedForm(parameters, grid: grid, model: model.config)
    }

    /// Optimizer steps the run will take on `data`.
    public func totalSteps(for data: TokenizedDataset) throws -> Int {
        if let s = config.steps { return s }
        let it = try BatchIterator(dataset: data, batchSize: config.batchSize, sequenceLength: config.sequenceLength,
                                   packing: config.packing, shuffle: true, seed: config.seed)
        let micro = Double(it.batchesPerEpoch) * config.epochs
        return max(1, Int((micro / Double(globalAccumulation)).rounded(.up)))
    }

    /// Micro-batches per optimizer step over all ranks.
    public var globalAccumulation: Int { config.gradientAccumulation * communicator.size }

    /// Mean next-token loss on up to `batches` batches of a dataset (0: all), in order, no gradients.
    /// Every rank must call it; rank r evaluates batches r, r+N, … and the sums are added in batch order.
    public func evaluate(_ data: TokenizedDataset, batches: Int = 0) throws -> EvalMetrics {
        try checkTokenIDs(data)
        var it = try BatchIterator(dataset: data, batchSize: config.batchSize, sequenceLength: config.sequenceLength,
                                   packing: config.packing, shuffle: false, seed: 0, padID: 0)
        let n = batches > 0 ? min(batches, it.batchesPerEpoch) : it.batchesPerEpoch
        var list: [TokenBatch] = []
        for _ in 0..<n {
            let b = it.next()
            list.append(b)
            if b.targetCount > 0 && b.endsEpoch { break }
        }
        let ranks = communicator.size, per = (list.count + ranks - 1) / ranks
        var mine = [Double](repeating: 0, count: 2 * per)   // (loss sum, count) of batches rank, rank+N, …
        for j in 0..<per {
            let i = j * ranks + communicator.rank
            guard i < list.count, list[i].targetCount > 0 else { continue }
            let r = stepper.evaluate(tokens: list[i].tokens, targets: list[i].targets, positions: list[i].positions)
            mine[2 * j] = r.sum
            mine[2 * j + 1] = Double(r.count)
        }
        let all = try communicator.allGather(mine)
        var sum = 0.0, count = 0
        for (i, b) in list.enumerated() where b.targetCount > 0 {
            let at = 2 * ((i % ranks) * per + i / ranks)
            sum += all[at]
            count += Int(all[at + 1])
        }
        let mean = count > 0 ? sum / Double(count) : .nan
        return EvalMetrics(step: step, loss: mean, perplexity: exp(mean), targets: count)
    }

    /// Trains on `data.train`, validating on `data.valid` at `evalInterval` and at the end.
    /// `observer` sees every step and evaluation and may stop the run; the factors then hold the
    /// last completed step.
    @discardableResult
    public func train(_ data: TrainingData, observer: (TrainingEvent) -> TrainingControl = { _ in .proceed }) throws -> TrainingSummary {
        let train = data.train
        guard train.targetCount > 0 else { throw TrainingError.noTrainingTargets(train.path) }
        try checkTokenIDs(train)
        if let v = data.valid { try checkTokenIDs(v) }
        let total = try totalSteps(for: train)
        let sched = LRSchedule(kind: config.schedule, peak: config.learningRate, warmupSteps: config.warmupSteps, totalSteps: total)
        var it = try BatchIterator(dataset: train, batchSize: config.batchSize, sequenceLength: config.sequenceLength,
                                   packing: config.packing, shuffle: true, seed: config.seed, start: dataPosition)
        let perEpoch = Double(max(1, it.batchesPerEpoch))
        let start = Date()
        var summary = TrainingSummary(steps: step, stoppedEarly: false, finalLoss: nil, firstValidLoss: nil, lastValidLoss: nil,
                                      skippedSteps: skippedSteps, seconds: 0, peakResidentBytes: 0)
        let dataIdentity = DataIdentity(train)
        try checkRanksAgree(data: dataIdentity)
        var stepSeconds: [Double] = []
        let valid = data.valid
        // Only rank 0 reports; a stop (observer, signal) is agreed by all ranks so they leave together.
        let reports = communicator.rank == 0
        var stop = try communicator.any(stopRequest.isRequested)
        if let valid, step == 0, !stop {
            // Baseline before any update, so "validation loss before → after" is measured, not guessed.
            let e = try evaluate(valid, batches: config.evalBatches)
            summary.firstValidLoss = e.loss
            stop = try communicator.any(reports && observer(.eval(e)) == .stop)
        }
        while step < total && !stop {
            let t0 = Date()
            var micro: [TokenBatch] = []   // the step's micro-batches over all ranks, in global order
            for _ in 0..<globalAccumulation { micro.append(it.next()) }
            let targets = micro.reduce(0) { $0 + $1.targetCount }
            let lr = sched.rate(at: step)
            let lossSum = try accumulateGradients(micro, step: step, targets: targets)
            let loss = targets > 0 ? lossSum / Double(targets) : .nan
            if let poison = poisonGradients, poison(step + 1) { stepper.graph.grads.ptr[0] = .nan }
            let update = stepper.applyUpdateIfFinite(learningRate: lr, lossIsFinite: loss.isFinite)
            step += 1
            dataPosition = it.position
            if update.skipped {
                skippedSteps += 1
                nonFiniteRun += 1
            } else {
                nonFiniteRun = 0
            }
            summary.skippedSteps = skippedSteps
            let dt = Date().timeIntervalSince(t0)
            stepSeconds.append(dt)
            let elapsed = Date().timeIntervalSince(start)
            let recent = stepSeconds.suffix(10)
            let avg = recent.reduce(0, +) / Double(recent.count)
            let tokens = config.batchSize * config.sequenceLength * globalAccumulation
            let epoch = Double(dataPosition.epoch) + Double(dataPosition.index) / Double(max(1, train.examples.count))
            _ = perEpoch
            let m = StepMetrics(step: step, totalSteps: total, loss: loss, learningRate: lr, gradNorm: update.gradNorm,
                                tokens: tokens, targets: targets, tokensPerSecond: Double(tokens) / max(dt, 1e-9), elapsed: elapsed,
                                eta: avg * Double(total - step), residentBytes: ProcessMemory.residentBytes(), epoch: epoch,
                                skipped: update.skipped)
            summary.finalLoss = loss
            stop = try communicator.any((reports && observer(.step(m)) == .stop) || stopRequest.isRequested)
            let evalNow = valid != nil && ((config.evalInterval > 0 && step % config.evalInterval == 0) || step == total || stop)
            if let valid, evalNow {
                let e = try evaluate(valid, batches: config.evalBatches)
                if summary.firstValidLoss == nil { summary.firstValidLoss = e.loss }
                summary.lastValidLoss = e.loss
                stop = try communicator.any(stop || (reports && observer(.eval(e)) == .stop) || stopRequest.isRequested)
            }
            let tooManyNonFinite = config.nonFiniteLimit > 0 && nonFiniteRun >= config.nonFiniteLimit
            if reports, let store = checkpointStore,
               (config.saveInterval > 0 && step % config.saveInterval == 0) || stop || step == total || tooManyNonFinite {
                lastCheckpointPath = try saveCheckpoint(to: store, totalSteps: total, data: dataIdentity)
            }
            if tooManyNonFinite { throw TrainingError.nonFinite(step: step, count: nonFiniteRun) }
        }
        summary.steps = step
        summary.stoppedEarly = step < total
        summary.seconds = Date().timeIntervalSince(start)
        summary.peakResidentBytes = ProcessMemory.peakResidentBytes()
        return summary
    }
}

extension LoRATrainer {
    /// The model's norm weights and RoPE factors must be finite: one NaN/Inf there makes every loss
    /// NaN. (A non-finite value inside a quantized matrix is caught by the non-finite step guard.)
    static func checkFiniteVectors(_ model: ModelWeights) throws {
        func check(_ v: [Float], _ name: String) throws {
            if let i = v.firstIndex(where: { !$0.isFinite }) {
                throw TrainingError.modelMismatch("\(model.source.path): tensor \(name) holds a non-finite value (\(v[i])) at index \(i); the model file is damaged")
            }
        }
        try check(model.outputNorm, "output_norm.weight")
        if let r = model.ropeFreqFactors { try check(r, "rope_freqs.weight") }
        for (l, layer) in model.layers.enumerated() {
            try check(layer.attnNorm, "blk.\(l).attn_norm.weight")
            try check(layer.ffnNorm, "blk.\(l).ffn_norm.weight")
        }
    }

    /// Token ids must index the model's embedding: a tokenizer with more ids than the model's
    /// vocabulary (Llama 3.2's tokenizer.json adds `<|image|>` = 128256 to a 128,256-row model)
    /// would otherwise read past the embedding table.
    func checkTokenIDs(_ data: TokenizedDataset) throws {
        let V = model.config.vocabSize
        for e in data.examples {
            if let bad = e.tokens.first(where: { $0 < 0 || Int($0) >= V }) {
                throw TrainingError.modelMismatch("\(data.path): line \(e.line) has token id \(bad), outside the model's vocabulary of \(V)")
            }
        }
    }
}
