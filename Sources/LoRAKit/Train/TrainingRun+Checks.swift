import Foundation

extension TrainingRun {
    /// Settings that run, but probably not as meant: more threads than the CPUs this process may use.
    public static func configWarnings(_ cfg: TrainingConfig) -> [String] {
        var w: [String] = []
        let cpus = ThreadPool.defaultThreadCount
        if let t = cfg.threads, t > cpus {
            w.append("\(t) threads but only \(cpus) CPU\(cpus == 1 ? "" : "s") may be used by this process: workers will wait on each other "
                     + "and the run will be many times slower (measured: 64 threads on 2 CPUs ran 35× slower); use \(cpus) threads")
        }
        return w
    }

    /// Data that trains but probably not as meant: cut examples, or less data than one batch.
    public static func dataWarnings(_ d: TokenizedDataset, _ cfg: TrainingConfig) -> [String] {
        var w: [String] = []
        if d.truncatedCount > 0 {
            w.append("\(d.path): \(d.truncatedCount) of \(d.examples.count) examples are longer than the sequence length (\(cfg.sequenceLength) tokens) and were cut; their ends are not learned (raise the sequence length or use packing)")
        }
        if d.tokenCount < cfg.sequenceLength * cfg.batchSize {
            w.append("\(d.path): the data hold \(d.tokenCount) tokens, less than one batch (\(cfg.batchSize) × \(cfg.sequenceLength)); batches are mostly padding and every step repeats the same examples")
        }
        return w
    }
}

extension CheckpointStore {
    /// The file of checkpoint `c` found by `latest(in: path)`: `path` itself, or its file in `path` or `path/checkpoints`.
    public static func path(of c: TrainingCheckpoint, in path: String) -> String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue { return path }
        let name = fileName(step: c.header.step)
        let direct = path + "/" + name
        return FileManager.default.fileExists(atPath: direct) ? direct : path + "/checkpoints/" + name
    }
}
