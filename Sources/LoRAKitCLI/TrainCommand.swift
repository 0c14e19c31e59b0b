import ArgumentParser
import Foundation
import LoRAKit

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Fine-tune a LoRA adapter on JSONL data; writes the adapter (PEFT format), metrics.jsonl and loss.svg.",
        discussion: """
            --data is a JSONL file or a folder with train.jsonl (and optional valid.jsonl / test.jsonl); lines are \
            {"text": …}, {"messages": [{"role", "content"}…]}, ShareGPT {"conversations": [{"from", "value"}…]} or \
            {"prompt": …, "completion": …}. A JSON --config file may carry any setting below under the key names of \
            run_config.json (batchSize, sequenceLength, learningRate, lora.rank, …; unknown keys are errors); options \
            given on the command line override it. Running the same command again resumes from the newest checkpoint \
            in --out; raising --steps continues a finished run. --out is locked while a run uses it.
            """)

    @Option(help: "Model: a .gguf file or a Hugging Face folder.") var model: String
    @Option(help: "Training data: a JSONL file or a folder with train.jsonl [valid.jsonl].") var data: String
    @Option(help: "Output folder.") var out: String
    @OptionGroup var settings: TrainingOptions
    @Option(help: "Resume from a checkpoint file, a checkpoints folder or a run folder. Without it, a checkpoint of the same run in --out is resumed automatically.")
    var resume: String?
    @Flag(help: "Start over even when --out holds checkpoints (they are deleted).") var fresh = false
    @Flag(help: "Print plain progress lines even on a terminal.") var plain = false

    mutating func run() throws {
        try runRanks { command, communicator in try command.train(communicator: communicator) }   // MPI: TrainCommand+MPI
    }

    func train(communicator: GradientCommunicator) throws {
        signal(SIGXFSZ, SIG_IGN)   // a file-size limit then fails the write with EFBIG (reported) instead of killing the run
        let run = TrainingRun(try request(), communicator: communicator)
        let out = self.out
        let signals = SignalStopper(target: run.stopRequest, signals: stopSignals, onFirst: { s in
            warnLine("\n\(SignalStopper.name(s)) received: finishing the current step and saving a checkpoint (press Ctrl-C again to quit at once)")
        }, onSecond: { s in
            let last = CheckpointStore.list(folder: out + "/checkpoints").last
            return "second \(SignalStopper.name(s)): exiting now; " + (last.map { "the last complete checkpoint is \($0.path)" }
                ?? "no checkpoint has been saved yet (nothing to resume)")
        })
        defer { signals.cancel() }
        let progress = ProgressDisplay(plain: plain || isatty(1) == 0)
        let result: TrainingRunResult
        do {
            result = try run.run { event in
                show(event, progress)
                return .proceed
            }
        } catch let e as AdmissionError {
            throw CLIError(e.describe { SettingFlags.flags($0.settings) })
        } catch let e as TrainingRunError {
            throw CLIError(e.description.replacingOccurrences(of: "use another output folder, or start fresh", with: "use another --out, or --fresh"))
        }
        progress.finish()
        if let reason = result.stopReason {
            print("stopped by \(reason) after step \(result.step)/\(result.totalSteps); checkpoint saved: \(result.lastCheckpointPath ?? out + "/checkpoints")")
            print("adapter so far: \(result.adapterPath)")
            print("to resume, run the same command again (it continues from the checkpoint in \(out)), or add --resume \(out)")
            fflush(stdout)
            let s = signals.signalReceived
            throw ExitCode(s != 0 ? 128 + s : 1)
        }
        print(String(format: "done: %d steps in %.1f s, peak RSS %@", result.summary.steps, result.summary.seconds,
                     ProcessMemory.format(result.summary.peakResidentBytes)))
        if let a = result.summary.firstValidLoss, let b = result.summary.lastValidLoss {
            print(String(format: "validation loss %.4f -> %.4f", a, b))
        }
        print("adapter: \(result.adapterPath)")
        print(result.budget.comparisonLine(measuredPeak: result.measuredPeakBytes))
    }

    /// The run this command asks for (`--resume`/`--fresh` as the resume mode).
    func request() throws -> TrainingRunRequest {
        if resume != nil && fresh { throw ValidationError("--resume and --fresh contradict each other") }
        let mode: TrainingRunRequest.Resume = fresh ? .fresh : resume.map { .from($0) } ?? .automatic
        return try settings.request(model: model, data: data, out: out, resume: mode)
    }

    /// Prints one event of the run.
    func show(_ event: TrainingRunEvent, _ progress: ProgressDisplay) {
        switch event {
        case .budget(let d):
            BudgetCommand.printPlan(d)
            print("")
            let p = d.config.precision
            let detail: [ComputePrecision: String] = [.bf16: " (bf16 products with fp32 sums; --precision fp32 for exact fp32)",
                                                      .int8: " (layers on int8 dot products, exact int32 group sums, fp32 scaling; the LM head in bf16)"]
            print("precision: \(p.rawValue)" + (detail[p] ?? ""))
            warnIfSlowBF16(p)
        case .note(let n): print("note: \(n)")
        case .warning(let w): warn(w)
        case .modelLoaded(let line): print(line)
        case .dataLoaded(let train, let valid):
            print("data: \(train)")
            if let valid { print("valid: \(valid)") }
        case .prepared(let numa, let trainable, let base):
            print(numa.summaryLine)
            print(LoRAParameters.peftLine(trainable: trainable, baseParameters: base))
        case .resumed(let path, let step, let total, let position):
            print("resuming from \(path): step \(step)/\(total), \(position)")
        case .training(let e): progress.show(e)
        case .adapterSaved: break
        }
        fflush(stdout)
    }
}

/// A line on stderr.
func warnLine(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }

/// bf16 without AVX512-BF16 runs a scalar microkernel, much slower than fp32.
func warnIfSlowBF16(_ p: ComputePrecision) {
    if p == .int8, !ComputePrecision.int8IsNative {
        warn("this CPU has no AVX512-VNNI, AVX2 or NEON dot product: --precision int8 runs a slow scalar kernel (fp32 is much faster here)")
    }
    guard p == .bf16, !ComputePrecision.bf16IsNative else { return }
    warn("this CPU has no AVX512-BF16: --precision bf16 runs a slow scalar kernel (fp32 is much faster here)")
}
