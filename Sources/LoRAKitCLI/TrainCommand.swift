import ArgumentParser
import Foundation
import LoRAKit

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a LoRA adapter on JSONL data; writes the adapter (PEFT format), metrics.jsonl and loss.svg.",
        discussion: """
            --data is a JSONL file or a folder with train.jsonl (and optional valid.jsonl / test.jsonl); lines are \
            {"text": …}, {"messages": [{"role", "content"}…]} or {"prompt": …, "completion": …}. \
            A JSON --config file may carry any of the options below (same names as in run_config.json); \
            options given on the command line override it.
            """)

    @Option(help: "Model: a .gguf file or a Hugging Face folder.") var model: String
    @Option(help: "Training data: a JSONL file or a folder with train.jsonl [valid.jsonl].") var data: String
    @Option(help: "Output folder.") var out: String
    @Option(help: "JSON file with a training configuration (run_config.json format).") var config: String?
    @Option(help: "LoRA rank.") var rank: Int?
    @Option(help: "LoRA alpha (scale = alpha/rank).") var alpha: Float?
    @Option(help: "LoRA dropout probability.") var dropout: Float?
    @Flag(help: "rsLoRA scaling (alpha/√rank).") var rslora = false
    @Option(help: "Target modules, comma-separated PEFT names (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj) or all-linear.")
    var targets: String?
    @Option(help: "Peak learning rate.") var lr: Float?
    @Option(help: "Schedule: constant, linear or cosine.") var schedule: String?
    @Option(help: "Warmup steps.") var warmup: Int?
    @Option(help: "Optimizer steps (overrides --epochs).") var steps: Int?
    @Option(help: "Epochs over the training data.") var epochs: Double?
    @Option(help: "Sequences per micro-batch.") var batchSize: Int?
    @Option(help: "Tokens per sequence.") var seqLen: Int?
    @Option(help: "Micro-batches per optimizer step.") var gradAccum: Int?
    @Option(help: "AdamW weight decay.") var weightDecay: Float?
    @Option(help: "Clip the global gradient norm (0 disables).") var maxGradNorm: Float?
    @Flag(inversion: .prefixedNo, help: "Loss only on completions / assistant turns (default: on).") var maskPrompt: Bool? = nil
    @Flag(help: "Pack examples end to end into full sequences.") var packing = false
    @Option(help: "Random seed (init, shuffling, dropout).") var seed: UInt64?
    @Option(help: "Worker threads (default: one per allowed core).") var threads: Int?
    @Option(help: "Validate every N steps (0: only at the end).") var evalInterval: Int?
    @Option(help: "Validation batches per evaluation (0: all).") var evalBatches: Int?
    @Option(help: "Save a checkpoint (and the adapter) every N steps (0: only at the end and when stopped; default 25).") var saveInterval: Int?
    @Option(help: "Checkpoints kept in OUT/checkpoints (default 3).") var keepCheckpoints: Int?
    @Option(help: "Stop after N steps in a row with a non-finite loss or gradient (they are skipped; 0: never stop; default 10).")
    var nonFiniteLimit: Int?
    @Option(help: "Resume from a checkpoint file, a checkpoints folder or a run folder. Without it, a checkpoint of the same run in --out is resumed automatically.")
    var resume: String?
    @Flag(help: "Start over even when --out holds checkpoints (they are deleted).") var fresh = false
    @Option(help: "Gradient checkpointing: on (recompute layers in backward, less memory) or off.") var checkpointing: String?
    @Option(help: "Bad JSONL lines: fail (default) or skip (with a warning).") var badLines: String?
    @Option(help: "Chat template: chatml, smollm2, llama3, llama3.1 (default: the model's own).") var chatTemplate: String?
    @Flag(help: "Print plain progress lines even on a terminal.") var plain = false
    @Option(help: "Memory cap, e.g. 6GB; checkpointing is chosen automatically to stay under it.") var maxMemory: String?
    @Option(help: "NUMA: auto (distribute when more than one node is allowed), distribute (workers pinned on every node, weights split by rows into node-local memory), isolate (pinned to one node), off. Never changes the results.")
    var numa: NUMAMode?
    @Option(help: "Arithmetic of the frozen-weight products: fp32, bf16 or auto (default: bf16 when the CPU has AVX512-BF16 — about 2.5x faster, about 2^-8 relative error per product — else fp32; a checkpoint resumes only with its own precision).")
    var precision: String?

    func resolvedConfig(base: TrainingConfig? = nil) throws -> TrainingConfig {
        var c = base ?? TrainingConfig.cliDefault
        if let config {
            guard let d = FileManager.default.contents(atPath: config) else { throw CLIError("cannot read config file \(config)") }
            do { c = try JSONDecoder().decode(TrainingConfig.self, from: d) } catch {
                throw CLIError("config file \(config): \(describeDecoding(error))")
            }
            // A config file without "precision" gets the CLI's default (an old run's file reads as fp32 otherwise).
            if (try? JSONSerialization.jsonObject(with: d) as? [String: Any])?["precision"] == nil {
                c.precision = (base ?? TrainingConfig.cliDefault).precision
            }
        }
        if let rank { c.lora.rank = rank }
        if let alpha { c.lora.alpha = alpha }
        if let dropout { c.lora.dropout = dropout }
        if rslora { c.lora.useRSLoRA = true }
        if let targets { c.lora.targets = try LoRAConfig.parseTargets([targets]) }
        if let seed { c.seed = seed; c.lora.seed = seed }
        if let lr { c.learningRate = lr }
        if let schedule {
            guard let k = LRSchedule.Kind(rawValue: schedule) else { throw ValidationError("--schedule must be constant, linear or cosine") }
            c.schedule = k
        }
        if let warmup { c.warmupSteps = warmup }
        if let steps { c.steps = steps }
        if let epochs { c.epochs = epochs; if steps == nil { c.steps = nil } }
        if let batchSize { c.batchSize = batchSize }
        if let seqLen { c.sequenceLength = seqLen }
        if let gradAccum { c.gradientAccumulation = gradAccum }
        if let weightDecay { c.optimizer.weightDecay = weightDecay }
        if let maxGradNorm { c.optimizer.maxGradNorm = maxGradNorm > 0 ? maxGradNorm : nil }
        if let maskPrompt { c.maskPrompt = maskPrompt }
        if packing { c.packing = true }
        if let threads { c.threads = threads }
        if let evalInterval { c.evalInterval = evalInterval }
        if let evalBatches { c.evalBatches = evalBatches }
        if let saveInterval { c.saveInterval = saveInterval }
        if let keepCheckpoints { c.keepCheckpoints = keepCheckpoints }
        if let nonFiniteLimit { c.nonFiniteLimit = nonFiniteLimit }
        if let checkpointing {
            switch checkpointing {
            case "on", "true", "layer": c.checkpointing = true
            case "off", "false", "none": c.checkpointing = false
            default: throw ValidationError("--checkpointing must be on or off")
            }
        }
        if let badLines {
            guard let p = BadLinePolicy(rawValue: badLines) else { throw ValidationError("--bad-lines must be fail or skip") }
            c.badLines = p
        }
        if let chatTemplate { c.chatTemplate = chatTemplate }
        if let numa { c.numa = numa }
        if let precision {
            if precision == "auto" { c.precision = .preferred } else {
                guard let p = ComputePrecision(rawValue: precision) else { throw ValidationError("--precision must be fp32, bf16 or auto (got '\(precision)')") }
                c.precision = p
            }
        }
        try c.validate()
        return c
    }

    mutating func run() throws {
        try runRanks { command, communicator in try command.train(communicator: communicator) }   // MPI: TrainCommand+MPI
    }

    func train(communicator: GradientCommunicator) throws {
        signal(SIGXFSZ, SIG_IGN)   // a file-size limit then fails the write with EFBIG (reported) instead of killing the run
        // A checkpoint to continue from (--resume, or one of this run in --out), read before anything else.
        let resumeFrom = try findCheckpoint()
        var cfg = try resolvedConfig(base: resumeFrom?.checkpoint.header.config)
        // Memory budget from the model's metadata, before any weight or buffer is allocated.
        let admission = try admit(cfg, resuming: resumeFrom != nil)
        cfg = admission.config
        warnIfSlowBF16(cfg.precision)
        print("precision: \(cfg.precision.rawValue)" + (cfg.precision == .bf16 ? " (bf16 products with fp32 sums; --precision fp32 for exact fp32)" : ""))
        let run = try RunDirectory(path: out)
        let weights = try ModelWeights.load(path: model)
        try cfg.lora.validate(for: weights.config)   // rank, alpha, targets vs the model's shapes, before reading data
        let tokenizer = try Tokenizer(modelPath: model)
        print(ModelReport.summaryLine(weights))
        let trainData = try TrainingData(path: data, tokenizer: tokenizer, options: cfg.datasetOptions)
        for w in trainData.warnings.prefix(20) { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        print("data: \(trainData.train.summary)")
        for w in dataWarnings(trainData.train, cfg) { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) }
        if let v = trainData.valid { print("valid: \(v.summary)") }
        let trainer = try LoRATrainer(model: weights, config: cfg, communicator: communicator)
        print(trainer.numaPlan.summaryLine)
        print(LoRAParameters.peftLine(trainable: trainer.parameters.count, baseParameters: weights.config.parameterCount))
        try prepareCheckpoints(trainer: trainer, run: run, resumeFrom: resumeFrom, data: trainData.train)
        printRanks(trainer)
        try run.writeConfig(cfg)
        let signals = SignalStopper(target: trainer.stopRequest, signals: stopSignals) { s in
            let msg = "\n\(SignalStopper.name(s)) received: finishing the current step and saving a checkpoint (press Ctrl-C again to quit at once)\n"
            FileHandle.standardError.write(Data(msg.utf8))
        }
        defer { signals.cancel() }
        let progress = ProgressDisplay(plain: plain || isatty(1) == 0)
        var saveError: Error?
        let summary = try trainer.train(trainData) { event in
            do { try run.record(event) } catch { saveError = error; return .stop }
            progress.show(event)
            if case .step(let m) = event, cfg.saveInterval > 0, m.step % cfg.saveInterval == 0, m.step < m.totalSteps {
                do { try trainer.parameters.savePEFT(to: run.adapterPath, model: weights.config, baseModelName: model) } catch {
                    saveError = error
                    return .stop
                }
            }
            return .proceed
        }
        progress.finish()
        if let saveError { throw saveError }
        try trainer.parameters.savePEFT(to: run.adapterPath, model: weights.config, baseModelName: model)
        if signals.signalReceived != 0 {
            try? run.writeLossCurve(title: "LoRA r=\(cfg.lora.rank) on \((model as NSString).lastPathComponent)")
            run.close()
            throw stoppedBySignal(signals.signalReceived, trainer: trainer, total: try trainer.totalSteps(for: trainData.train))
        }
        try run.writeLossCurve(title: "LoRA r=\(cfg.lora.rank) on \((model as NSString).lastPathComponent)")
        run.close()
        print(String(format: "done: %d steps in %.1f s, peak RSS %@", summary.steps, summary.seconds,
                     ProcessMemory.format(summary.peakResidentBytes)))
        if let a = summary.firstValidLoss, let b = summary.lastValidLoss {
            print(String(format: "validation loss %.4f -> %.4f", a, b))
        }
        print("adapter: \(run.adapterPath)")
        let measured = ProcessMemory.peakResidentBytes()
        print(admission.budget.comparisonLine(measuredPeak: measured))
        try? MemoryBudgetRecord(budget: admission.budget, measuredPeakBytes: measured).write(to: out + "/memory.json")
    }

    /// Prints the budget table and refuses the run (nothing allocated yet) when it cannot fit.
    func admit(_ cfg: TrainingConfig, resuming: Bool = false) throws -> AdmissionDecision {
        var limit = MemoryLimit.current()
        if let maxMemory {
            guard let cap = MemoryLimit.parseSize(maxMemory) else { throw ValidationError("--max-memory: cannot read '\(maxMemory)' (e.g. 6GB)") }
            limit.userCap = cap
        }
        let footprint = try ModelFootprint.read(path: model)
        let d = Admission.decide(model: footprint, config: cfg, limit: limit, ownResident: ProcessMemory.residentBytes(),
                                 threads: cfg.threads, dataBytes: MemoryBudget.dataBytes(path: data),
                                 autoCheckpointing: maxMemory != nil && checkpointing == nil, resuming: resuming)
        print(d.budget.report())
        for n in d.notes { print("note: \(n)") }
        print(BudgetCommand.availabilityLine(d))
        print("")
        fflush(stdout)
        try Admission.enforce(d)
        return d
    }
}

func describeDecoding(_ error: Error) -> String {
    switch error {
    case DecodingError.keyNotFound(let k, _): return "missing key '\(k.stringValue)'"
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c):
        return "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))': \(c.debugDescription)"
    case DecodingError.dataCorrupted(let c): return "invalid JSON: \(c.debugDescription)"
    default: return "\(error)"
    }
}

extension ComputePrecision: ExpressibleByArgument {}

/// bf16 without AVX512-BF16 runs a scalar microkernel, much slower than fp32.
func warnIfSlowBF16(_ p: ComputePrecision) {
    guard p == .bf16, !ComputePrecision.bf16IsNative else { return }
    FileHandle.standardError.write(Data("warning: this CPU has no AVX512-BF16: --precision bf16 runs a slow scalar kernel (fp32 is much faster here)\n".utf8))
}
