import Foundation

/// What a training run is asked to do: the model, the data, the output folder and where its
/// settings come from (defaults or the resumed checkpoint's, then a configuration file, then overrides).
public struct TrainingRunRequest: Sendable {
    public enum Resume: Sendable, Equatable {
        /// Continue from the newest intact checkpoint of this run in the output folder, if any.
        case automatic
        /// Continue from a checkpoint file, a checkpoints folder or a run folder (it must hold one).
        case from(String)
        /// Start over: the output folder's checkpoints are deleted once training starts.
        case fresh
    }

    public var model: String
    public var data: String
    public var output: String
    /// JSON configuration file (run_config.json's format), read strictly.
    public var configFile: String?
    public var overrides: TrainingOverrides
    /// The settings a new run starts from (`TrainingConfig.runDefaults`: periodic saves, `auto` precision).
    public var defaults: TrainingConfig
    public var resume: Resume
    /// Memory cap in bytes on top of the machine's limit; with a cap and no explicit checkpointing
    /// setting, checkpointing is switched on only when the run needs it to fit.
    public var memoryCap: Int?
    /// Block type HF safetensors weights are quantized to on load (GGUF files keep their own).
    public var quantizeTo: GGMLType

    public init(model: String, data: String, output: String, configFile: String? = nil, overrides: TrainingOverrides = .init(),
                defaults: TrainingConfig = .runDefaults, resume: Resume = .automatic, memoryCap: Int? = nil,
                quantizeTo: GGMLType = .q8_0) {
        self.model = model; self.data = data; self.output = output; self.configFile = configFile
        self.overrides = overrides; self.defaults = defaults; self.resume = resume; self.memoryCap = memoryCap
        self.quantizeTo = quantizeTo
    }

    /// Whether checkpointing may be chosen automatically (a memory cap and no explicit setting).
    var autoCheckpointing: Bool { memoryCap != nil && overrides.checkpointing == nil }
}

/// What a run tells its observer, in order: the budget (nothing allocated yet), then loading and
/// preparation, then every training step and evaluation, saves, and warnings when they arise.
public enum TrainingRunEvent: Sendable {
    case budget(AdmissionDecision)
    case note(String)
    case warning(String)
    /// One line: path, layers, dimensions, heads, vocabulary, parameters.
    case modelLoaded(String)
    case dataLoaded(train: String, valid: String?)
    /// The trainer is ready: its NUMA plan, trainable and base parameter counts.
    case prepared(numa: NUMAPlan, trainableParameters: Int, baseParameters: Int)
    case resumed(path: String, step: Int, totalSteps: Int, position: DataPosition)
    case training(TrainingEvent)
    case adapterSaved(String)
}

/// The outcome of a run that ended without an error.
public struct TrainingRunResult: Sendable {
    public var summary: TrainingSummary
    /// Steps done and planned: `finished` when they are equal (a stop request that came during
    /// the last step or the final save does not make a finished run "stopped").
    public var step: Int
    public var totalSteps: Int
    public var finished: Bool { step >= totalSteps }
    /// The stop request's reason when the run stopped early ("SIGINT", a batch scheduler's word…).
    public var stopReason: String?
    public var adapterPath: String
    public var lastCheckpointPath: String?
    public var budget: MemoryBudget
    public var measuredPeakBytes: Int
    public var config: TrainingConfig
}

/// One training run from request to saved adapter: settings resolution, memory admission, resume
/// lookup, an exclusive lock on the output folder, loading, training with periodic checkpoint and
/// adapter saves, and the run's records (run_config.json, metrics.jsonl, loss.svg, memory.json).
/// `lorakit train`, `Examples/BatchJob` and the README's example all run through it.
public final class TrainingRun {
    public let request: TrainingRunRequest
    /// Ask the run to stop after the step in progress (thread-safe; signal handlers may call it).
    /// It then saves a checkpoint and the adapter and returns normally with `stopReason` set.
    public let stopRequest = StopRequest()
    /// Path of the last checkpoint saved (also while running; read it from another thread only after the run).
    public private(set) var lastCheckpointPath: String?

    private let loadedModel: ModelWeights?
    private let loadedTokenizer: Tokenizer?
    /// The processes of a data-parallel run (`LocalCommunicator`: this one alone); see `LoRATrainer`.
    public let communicator: GradientCommunicator

    /// `model` and `tokenizer`: already loaded from `request.model` (a batch job training several
    /// adapters over one base loads it once); nil loads them. `communicator`: the ranks of a
    /// data-parallel run (`LoRAKitMPI.MPICommunicator`), one process by default.
    public init(_ request: TrainingRunRequest, model: ModelWeights? = nil, tokenizer: Tokenizer? = nil,
                communicator: GradientCommunicator = LocalCommunicator()) {
        self.request = request
        loadedModel = model
        loadedTokenizer = tokenizer
        self.communicator = communicator
    }

    /// The settings and the admission decision of a run, from the model's metadata only (no weights
    /// are read): what `lorakit budget` prints for the same request. `footprint` replaces reading
    /// the model (presets).
    public static func plan(_ request: TrainingRunRequest, footprint: ModelFootprint? = nil, base: TrainingConfig? = nil,
                            resuming: Bool = false) throws -> AdmissionDecision {
        let cfg = try TrainingConfig.resolve(base: base ?? request.defaults, file: request.configFile, overrides: request.overrides)
        var limit = MemoryLimit.current()
        limit.userCap = request.memoryCap
        let fp = try footprint ?? ModelFootprint.read(path: request.model, quantizeTo: request.quantizeTo)
        let dataBytes = FileManager.default.fileExists(atPath: request.data) ? MemoryBudget.dataBytes(path: request.data) : 0
        // Per-node totals when the run places weights on several NUMA nodes (the trainer makes the same plan).
        let numa = try? NUMAPlan.forRun(topology: NUMATopology.current(), threads: cfg.threads, mode: cfg.numa)
        return Admission.decide(model: fp, config: cfg, limit: limit, ownResident: ProcessMemory.residentBytes(),
                                threads: cfg.threads, dataBytes: dataBytes, autoCheckpointing: request.autoCheckpointing,
                                resuming: resuming, numa: numa)
    }

    /// Runs the whole request. Errors name what was wrong; a run refused before it wrote anything
    /// leaves no output folder behind. `observer` may return `.stop` to end the run after the step
    /// in progress (as `stopRequest` does).
    @discardableResult
    public func run(observer: (TrainingRunEvent) -> TrainingControl = { _ in .proceed }) throws -> TrainingRunResult {
        let out = try RunOutput.open(request.output)
        do {
            let r = try run(out, observer)
            out.finish()
            return r
        } catch {
            out.abandon()
            throw error
        }
    }

    private func run(_ out: RunOutput, _ observer: (TrainingRunEvent) -> TrainingControl) throws -> TrainingRunResult {
        var stop = false
        func emit(_ e: TrainingRunEvent) { if observer(e) == .stop { stop = true } }
        if let note = out.lock.tookOverNote { emit(.note(note)) }
        let resumeFrom = try findCheckpoint(emit)
        let decision = try TrainingRun.plan(request, base: resumeFrom?.checkpoint.header.config, resuming: resumeFrom != nil)
        emit(.budget(decision))
        try Admission.enforce(decision)
        let cfg = decision.config
        for w in TrainingRun.configWarnings(cfg) { emit(.warning(w)) }
        let weights = try loadedModel ?? ModelWeights.load(path: request.model, quantizeTo: request.quantizeTo)
        try cfg.lora.validate(for: weights.config)   // rank, alpha, targets vs the model's shapes, before reading data
        let tokenizer = try loadedTokenizer ?? Tokenizer(modelPath: request.model)
        emit(.modelLoaded(weights.summaryLine))
        let data = try TrainingData(path: request.data, tokenizer: tokenizer, options: cfg.datasetOptions)
        for w in data.warnings.prefix(20) { emit(.warning(w.description)) }
        for w in TrainingRun.dataWarnings(data.train, cfg) { emit(.warning(w)) }
        emit(.dataLoaded(train: data.train.summary, valid: data.valid?.summary))
        let trainer = try LoRATrainer(model: weights, config: cfg, communicator: communicator)
        emit(.prepared(numa: trainer.numaPlan, trainableParameters: trainer.parameters.count,
                       baseParameters: weights.config.parameterCount))
        if let line = trainer.dataParallelLine { emit(.note(line)) }
        let total = try trainer.totalSteps(for: data.train)
        let run = out.directory
        if let r = resumeFrom {
            do { try trainer.restore(from: r.checkpoint, data: data.train, path: r.path) } catch let e as CheckpointError {
                guard case .automatic = request.resume else { throw e }
                throw TrainingRunError.otherRunInOutput(request.output, e)
            }
            let h = r.checkpoint.header
            if h.config.threads != cfg.threads {
                emit(.note("the checkpoint ran with \(h.config.threads.map(String.init) ?? "default") threads, now \(cfg.threads.map(String.init) ?? "default"); results may differ in the last bits"))
            }
            if h.totalSteps != total {
                emit(.note(h.step >= total
                    ? "the checkpoint is at step \(h.step), the run now has \(total) steps: nothing left to train"
                    : "extending the run from \(h.totalSteps) to \(total) steps; the learning-rate schedule now spans \(total) steps"))
            }
            if let n = trainer.resumeNote { emit(.note(n)) }
            emit(.resumed(path: r.path, step: h.step, totalSteps: total, position: h.dataPosition))
            try run.resumeMetrics(upTo: h.step)
        } else {
            if case .fresh = request.resume { try? FileManager.default.removeItem(atPath: out.checkpointFolder) }
            try run.startMetrics()
        }
        out.wroteOutput = true
        trainer.checkpointStore = try CheckpointStore(folder: out.checkpointFolder, keep: cfg.keepCheckpoints)
        try run.writeConfig(cfg)
        var saveError: Error?
        let stopRequest = self.stopRequest
        let summary = try trainer.train(data) { [request] event in
            do { try run.record(event) } catch { saveError = error; return .stop }
            emit(.training(event))
            if case .step(let m) = event, cfg.saveInterval > 0, m.step % cfg.saveInterval == 0, m.step < m.totalSteps {
                do {
                    try trainer.adapterToSave().savePEFT(to: run.adapterPath, model: weights.config, baseModelName: request.model)
                    emit(.adapterSaved(run.adapterPath))
                } catch { saveError = error; return .stop }
            }
            return stop || stopRequest.isRequested ? .stop : .proceed
        }
        lastCheckpointPath = trainer.lastCheckpointPath
        if let saveError { throw saveError }
        try trainer.adapterToSave().savePEFT(to: run.adapterPath, model: weights.config, baseModelName: request.model)
        emit(.adapterSaved(run.adapterPath))
        try? run.writeLossCurve(title: "LoRA r=\(cfg.lora.rank) on \((request.model as NSString).lastPathComponent)")
        run.close()
        let measured = ProcessMemory.peakResidentBytes()
        try? MemoryBudgetRecord(budget: decision.budget, measuredPeakBytes: measured).write(to: request.output + "/memory.json")
        let finished = trainer.step >= total
        return TrainingRunResult(summary: summary, step: trainer.step, totalSteps: total,
                                 stopReason: finished ? nil : (stopRequest.reason ?? (stop ? "stopped by the observer" : nil)),
                                 adapterPath: run.adapterPath, lastCheckpointPath: trainer.lastCheckpointPath,
                                 budget: decision.budget, measuredPeakBytes: measured, config: cfg)
    }

    /// The checkpoint file this request would resume (nil: a fresh start), as `run` will find it.
    public func checkpointToResume() throws -> String? { try findCheckpoint { _ in }?.path }

    /// The checkpoint to continue from: the requested one (it must hold one), else the newest in the
    /// output folder unless the run starts fresh.
    func findCheckpoint(_ emit: (TrainingRunEvent) -> Void) throws -> (checkpoint: TrainingCheckpoint, path: String)? {
        var warnings: [String] = []
        defer { for w in warnings { emit(.warning(w)) } }
        switch request.resume {
        case .fresh: return nil
        case .from(let path):
            guard let c = try CheckpointStore.latest(in: path, warnings: &warnings) else { throw CheckpointError.noCheckpoint(path) }
            return (c, CheckpointStore.path(of: c, in: path))
        case .automatic:
            let folder = request.output + "/checkpoints"
            guard FileManager.default.fileExists(atPath: folder),
                  let c = try CheckpointStore.latest(in: folder, warnings: &warnings) else { return nil }
            return (c, CheckpointStore.path(of: c, in: folder))
        }
    }
}

/// Errors of a training run that are not about the configuration, model or data themselves.
public enum TrainingRunError: Error, CustomStringConvertible {
    /// The output folder holds checkpoints of another run (the reasons are in the checkpoint error).
    case otherRunInOutput(String, CheckpointError)

    public var description: String {
        switch self {
        case .otherRunInOutput(let out, let e):
            return "\(e)\nthe output folder \(out) holds checkpoints of another run: use another output folder, or start fresh (deletes them)"
        }
    }
}
