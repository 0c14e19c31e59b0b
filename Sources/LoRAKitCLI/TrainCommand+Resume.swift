import ArgumentParser
import Foundation
import LoRAKit

extension TrainingConfig {
    /// The CLI's starting point: the library defaults plus a checkpoint every 25 steps.
    static var cliDefault: TrainingConfig {
        var c = TrainingConfig()
        c.saveInterval = 25
        c.precision = .preferred
        return c
    }
}

extension TrainCommand {
    var checkpointFolder: String { out + "/checkpoints" }

    /// The checkpoint to continue from: `--resume PATH` (must hold one), else the newest in
    /// `--out/checkpoints` unless `--fresh`.
    func findCheckpoint() throws -> (checkpoint: TrainingCheckpoint, path: String, explicit: Bool)? {
        var warnings: [String] = []
        defer { for w in warnings { FileHandle.standardError.write(Data("warning: \(w)\n".utf8)) } }
        if let resume {
            if fresh { throw ValidationError("--resume and --fresh contradict each other") }
            guard let c = try CheckpointStore.latest(in: resume, warnings: &warnings) else { throw CheckpointError.noCheckpoint(resume) }
            return (c, checkpointPath(c, in: resume), true)
        }
        guard !fresh, FileManager.default.fileExists(atPath: checkpointFolder),
              let c = try CheckpointStore.latest(in: checkpointFolder, warnings: &warnings) else { return nil }
        return (c, checkpointPath(c, in: checkpointFolder), false)
    }

    private func checkpointPath(_ c: TrainingCheckpoint, in path: String) -> String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue { return path }
        let name = String(format: "step-%06d.lkckpt", c.header.step)
        let direct = path + "/" + name
        return FileManager.default.fileExists(atPath: direct) ? direct : path + "/checkpoints/" + name
    }

    /// Restores the trainer from the checkpoint (refusing another run's with the reasons), or clears
    /// old checkpoints for a fresh run; then attaches the checkpoint store and opens metrics.jsonl.
    func prepareCheckpoints(trainer: LoRATrainer, run: RunDirectory,
                            resumeFrom: (checkpoint: TrainingCheckpoint, path: String, explicit: Bool)?, data: TokenizedDataset) throws {
        if let r = resumeFrom {
            do { try trainer.restore(from: r.checkpoint, data: data, path: r.path) } catch let e as CheckpointError {
                guard !r.explicit else { throw e }
                throw CLIError("\(e)\n--out \(out) holds checkpoints of another run: use another --out, or --fresh to start over (deletes them)")
            }
            let h = r.checkpoint.header
            if h.config.threads != trainer.config.threads {
                print("note: the checkpoint ran with \(h.config.threads.map(String.init) ?? "default") threads, now \(trainer.config.threads.map(String.init) ?? "default"); results may differ in the last bits")
            }
            print("resuming from \(r.path): step \(h.step)/\(h.totalSteps), \(h.dataPosition)")
            try run.resumeMetrics(upTo: h.step)
        } else {
            if fresh { try? FileManager.default.removeItem(atPath: checkpointFolder) }
            try run.startMetrics()
        }
        trainer.checkpointStore = try CheckpointStore(folder: checkpointFolder, keep: trainer.config.keepCheckpoints)
    }

    /// Message and exit code after SIGINT (130) or SIGTERM (143): the checkpoint was saved.
    func stoppedBySignal(_ s: Int32, trainer: LoRATrainer, total: Int) -> ExitCode {
        let saved = trainer.lastCheckpointPath ?? checkpointFolder
        print("stopped by \(SignalStopper.name(s)) after step \(trainer.step)/\(total); checkpoint saved: \(saved)")
        print("adapter so far: \(out)/adapter")
        print("to resume, run the same command again (it continues from the checkpoint in \(out)), or add --resume \(out)")
        fflush(stdout)
        return ExitCode(128 + s)
    }
}

extension TrainCommand {
    /// Data that trains but probably not as meant: cut examples, or less data than one sequence.
    func dataWarnings(_ d: TokenizedDataset, _ cfg: TrainingConfig) -> [String] {
        var w: [String] = []
        if d.truncatedCount > 0 {
            w.append("\(d.path): \(d.truncatedCount) of \(d.examples.count) examples are longer than the sequence length (\(cfg.sequenceLength) tokens) and were cut; their ends are not learned (raise --seq-len or use --packing)")
        }
        if d.tokenCount < cfg.sequenceLength * cfg.batchSize {
            w.append("\(d.path): the data hold \(d.tokenCount) tokens, less than one batch (\(cfg.batchSize) × \(cfg.sequenceLength)); batches are mostly padding and every step repeats the same examples")
        }
        return w
    }
}
