import Foundation

/// A folder of checkpoints `step-NNNNNN.lkckpt`, each written atomically (temporary file in the same
/// folder, fsync, rename, fsync the folder), the newest `keep` kept. A crash or SIGKILL at any moment
/// leaves every complete checkpoint readable; a stale temporary file is removed on the next open.
public final class CheckpointStore {
    public let folder: String
    /// How many checkpoints to keep (at least 1).
    public let keep: Int

    /// Opens (creating if needed) a checkpoint folder.
    public init(folder: String, keep: Int = 3) throws {
        self.folder = folder
        self.keep = max(1, keep)
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw RunDirectoryError.notWritable(folder, RunDirectory.describeWriteError(error))
        }
        guard fm.isWritableFile(atPath: folder) else { throw RunDirectoryError.notWritable(folder, "permission denied") }
        for f in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where f.hasPrefix(".") && f.contains(".tmp-") {
            try? fm.removeItem(atPath: folder + "/" + f)
        }
    }

    /// The checkpoints present, oldest first.
    public func list() -> [(step: Int, path: String)] {
        CheckpointStore.list(folder: folder)
    }

    /// `step-NNNNNN.lkckpt`.
    public static func fileName(step: Int) -> String { String(format: "step-%06d.lkckpt", step) }

    public static func list(folder: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("step-"), n.hasSuffix(".lkckpt"), let s = Int(n.dropFirst(5).dropLast(7)) else { return nil }
            return (s, folder + "/" + n)
        }.sorted { $0.0 < $1.0 }
    }

    /// Writes a checkpoint atomically, then removes all but the newest `keep`. Returns its path.
    @discardableResult
    public func save(_ checkpoint: TrainingCheckpoint) throws -> String {
        try checkpoint.parameters.withUnsafeBufferPointer { p in
            try checkpoint.adamM.withUnsafeBufferPointer { m in
                try checkpoint.adamV.withUnsafeBufferPointer { v in
                    try save(header: checkpoint.header, parameters: p, adamM: m, adamV: v)
                }
            }
        }
    }

    /// Writes a checkpoint streamed from the live buffers (no copy of the state is made), then
    /// removes all but the newest `keep`. Returns its path.
    @discardableResult
    func save(header: CheckpointHeader, parameters: UnsafeBufferPointer<Float>, adamM: UnsafeBufferPointer<Float>,
              adamV: UnsafeBufferPointer<Float>) throws -> String {
        let path = folder + "/" + CheckpointStore.fileName(step: header.step)
        try RunDirectory.writeAtomically(to: path) { emit in
            try TrainingCheckpoint.stream(header: header, parameters: parameters, adamM: adamM, adamV: adamV, emit: emit)
        }
        let all = list()
        for old in all.dropLast(keep) where old.path != path { unlink(old.path) }
        return path
    }

    /// The newest checkpoint that reads back intact (older ones are tried when the newest is damaged;
    /// `warnings` says which were passed over), or nil when the folder holds none.
    public func latest(warnings: inout [String]) throws -> TrainingCheckpoint? {
        try CheckpointStore.latest(in: folder, warnings: &warnings)
    }

    /// `path` is a checkpoint file, a checkpoint folder, or a run folder with `checkpoints/`.
    public static func latest(in path: String, warnings: inout [String]) throws -> TrainingCheckpoint? {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CheckpointError.unreadable(path) }
        if !isDir.boolValue { return try TrainingCheckpoint.load(path: path) }
        var all = list(folder: path)
        if all.isEmpty { all = list(folder: path + "/checkpoints") }
        var lastError: Error?
        for c in all.reversed() {
            do { return try TrainingCheckpoint.load(path: c.path) } catch {
                warnings.append("skipping \(c.path): \(error)")
                lastError = error
            }
        }
        if let lastError { throw lastError }
        return nil
    }
}

extension TrainingConfig {
    /// The fields that decide the numbers a run produces. Thread count, evaluation, saving, memory
    /// (checkpointing gives identical results), the non-finite policy and the run's length may change on resume.
    var resumeDefining: TrainingConfig {
        var c = self
        c.threads = nil
        c.evalInterval = 0
        c.evalBatches = 0
        c.saveInterval = 0
        c.checkpointing = false
        c.keepCheckpoints = TrainingConfig().keepCheckpoints
        c.nonFiniteLimit = TrainingConfig().nonFiniteLimit
        c.numa = .auto   // NUMA mode decides where threads run and pages live, not the numbers
        // The length of a run may change: extending a finished run continues it (the schedule is
        // recomputed for the new length, which the run says).
        c.steps = nil
        c.epochs = 1
        return c
    }
}

extension CheckpointHeader {
    /// Reasons this checkpoint cannot continue a run of `config` on `model` with `data` (empty: it can).
    public func incompatibilities(config: TrainingConfig, model: ModelIdentity, data: DataIdentity) -> [String] {
        var why: [String] = []
        if self.model.fingerprint != model.fingerprint {
            why.append("it was made for the model \(self.model.path) (fingerprint \(self.model.fingerprint)), not \(model.path) (fingerprint \(model.fingerprint))")
        }
        if self.data.fingerprint != data.fingerprint {
            why.append("its training data differ (\(self.data.path): \(self.data.examples) examples, \(self.data.tokens) tokens; now \(data.path): \(data.examples) examples, \(data.tokens) tokens)")
        }
        let a = CheckpointHeader.flatten(self.config.resumeDefining), b = CheckpointHeader.flatten(config.resumeDefining)
        for k in Set(a.keys).union(b.keys).sorted() where a[k] != b[k] {
            why.append("\(k) was \(a[k] ?? "unset"), now \(b[k] ?? "unset")")
        }
        return why
    }

    /// `key.path -> JSON value` of a config, for naming the fields that differ.
    static func flatten(_ c: TrainingConfig) -> [String: String] {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard let d = try? enc.encode(c), let obj = try? JSONSerialization.jsonObject(with: d) else { return [:] }
        var out: [String: String] = [:]
        func walk(_ v: Any, _ key: String) {
            if let dict = v as? [String: Any] {
                for (k, x) in dict { walk(x, key.isEmpty ? k : key + "." + k) }
            } else if let x = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed, .sortedKeys]) {
                out[key] = String(decoding: x, as: UTF8.self)
            }
        }
        walk(obj, "")
        return out
    }
}
