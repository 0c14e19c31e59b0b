import Foundation

extension LoRATrainer {
    /// The memory budget of this run (the buffers are already allocated; the figures come from the same plan).
    /// `dataBytes`: size of the JSONL files, for the dataset term.
    public func budget(dataBytes: Int = 0) throws -> MemoryBudget {
        MemoryBudget.estimate(model: try ModelFootprint.loaded(model), config: config, threads: pool.threads, dataBytes: dataBytes,
                              checkpoints: checkpointStore != nil)
    }
}

extension MemoryBudget {
    /// The budget of training `config` on loaded weights (for batch jobs that hold a model already).
    public static func estimate(weights: ModelWeights, config: TrainingConfig, threads: Int? = nil, dataBytes: Int = 0,
                                checkpoints: Bool = true) throws -> MemoryBudget {
        estimate(model: try ModelFootprint.loaded(weights), config: config, threads: threads, dataBytes: dataBytes, checkpoints: checkpoints)
    }

    /// Bytes of the JSONL files a `--data` path names (a file, or a folder's train/valid/test.jsonl).
    public static func dataBytes(path: String) -> Int {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return 0 }
        let files = isDir.boolValue ? ["train.jsonl", "valid.jsonl", "test.jsonl"].map { path + "/" + $0 } : [path]
        return files.reduce(0) { s, f in s + ((try? fm.attributesOfItem(atPath: f)[.size] as? Int) ?? 0) }
    }
}
