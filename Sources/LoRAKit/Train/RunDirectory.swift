import Foundation

/// The output folder of a training run: `metrics.jsonl` (one record per step and per evaluation),
/// `loss.svg`, `run_config.json` and the adapter (PEFT format) in `adapter/`. Files are replaced
/// atomically: a reader never sees half of one.
public final class RunDirectory {
    public let path: String
    private var metrics: FileHandle?
    private var trainPoints: [(Int, Double)] = []
    private var validPoints: [(Int, Double)] = []

    /// Creates (or reuses) the folder and checks that it is writable.
    public init(path: String) throws {
        self.path = path
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            // Foundation often says only "error 512": ask mkdir for the reason (ENOTDIR, EACCES, EROFS…).
            let why = mkdir(path, 0o755) != 0 && errno != ENOENT ? String(cString: strerror(errno)) : RunDirectory.describeWriteError(error)
            throw RunDirectoryError.notWritable(path, why)
        }
        guard fm.isWritableFile(atPath: path) else { throw RunDirectoryError.notWritable(path, "permission denied") }
    }

    public var adapterPath: String { path + "/adapter" }
    public var metricsPath: String { path + "/metrics.jsonl" }

    /// Starts a fresh metrics file.
    public func startMetrics() throws {
        let p = metricsPath
        FileManager.default.createFile(atPath: p, contents: nil)
        guard let h = FileHandle(forWritingAtPath: p) else { throw RunDirectoryError.notWritable(p, "cannot open") }
        metrics = h
    }

    /// Continues metrics.jsonl of a resumed run: keeps the records up to `step` (later ones were
    /// written after the checkpoint and are replayed), reloads the loss-curve points, then appends.
    public func resumeMetrics(upTo step: Int) throws {
        let p = metricsPath
        var kept = Data()
        if let old = FileManager.default.contents(atPath: p) {
            for line in old.split(separator: 0x0A) {
                guard let obj = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                      let s = obj["step"] as? Int, s <= step else { continue }
                let loss = obj["loss"] as? Double ?? .nan
                if obj["type"] as? String == "eval" { validPoints.append((s, loss)) } else { trainPoints.append((s, loss)) }
                kept.append(contentsOf: line)
                kept.append(0x0A)
            }
        }
        try RunDirectory.writeAtomically(kept, to: p)
        guard let h = FileHandle(forWritingAtPath: p) else { throw RunDirectoryError.notWritable(p, "cannot open") }
        try h.seekToEnd()
        metrics = h
    }

    /// Appends one record to metrics.jsonl.
    public func record(_ event: TrainingEvent) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        // A skipped non-finite step has a NaN/Inf loss or gradient norm: written as strings.
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        var line: Data
        switch event {
        case .step(let m):
            line = try enc.encode(MetricRecord(type: "train", step: m.step, payload: .step(m)))
            trainPoints.append((m.step, m.loss))
        case .eval(let e):
            line = try enc.encode(MetricRecord(type: "eval", step: e.step, payload: .eval(e)))
            validPoints.append((e.step, e.loss))
        }
        line.append(0x0A)
        try metrics?.write(contentsOf: line)
    }

    /// Writes loss.svg from the recorded points.
    public func writeLossCurve(title: String) throws {
        try RunDirectory.writeAtomically(Data(LossCurveSVG.render(train: trainPoints, valid: validPoints, title: title).utf8),
                                         to: path + "/loss.svg")
    }

    /// Writes run_config.json.
    public func writeConfig<T: Encodable>(_ value: T, name: String = "run_config.json") throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try RunDirectory.writeAtomically(try enc.encode(value), to: path + "/" + name)
    }

    public func close() { try? metrics?.close(); metrics = nil }
    deinit { close() }

    /// "no space left on the device (disk full)" and "file too large" instead of Foundation's vaguer text.
    static func describeWriteError(_ error: Error) -> String {
        let ns = error as NSError
        let posix = (ns.domain == NSPOSIXErrorDomain ? ns.code : nil)
            ?? (ns.userInfo[NSUnderlyingErrorKey] as? NSError).flatMap { $0.domain == NSPOSIXErrorDomain ? $0.code : nil }
        if (error as? CocoaError)?.code == .fileWriteOutOfSpace { return AtomicFileWriter.describePOSIX(ENOSPC) }
        if let posix { return AtomicFileWriter.describePOSIX(Int32(posix)) }
        return error.localizedDescription
    }

    /// Temporary file in the same folder, fsync, rename, fsync the folder.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        try writeAtomically(to: path) { emit in try data.withUnsafeBytes { try emit($0) } }
    }

    /// Streams bytes through `body` into a temporary file in the same folder (nothing the size of
    /// the file is held in memory), then fsync, rename, fsync the folder. On any error the temporary
    /// file is removed and `path` is untouched.
    public static func writeAtomically(to path: String,
                                       _ body: (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try AtomicFileWriter.write(path: path, failure: { step, reason in
            RunDirectoryError.writeFailed(path, step == "write failed" ? reason : "\(step): \(reason)")
        }, body)
    }
}

/// One line of metrics.jsonl.
struct MetricRecord: Encodable {
    enum Payload { case step(StepMetrics), eval(EvalMetrics) }
    var type: String
    var step: Int
    var payload: Payload

    func encode(to encoder: Encoder) throws {
        switch payload {
        case .step(let m): try m.encode(to: encoder)
        case .eval(let e): try e.encode(to: encoder)
        }
        var c = encoder.container(keyedBy: K.self)
        try c.encode(type, forKey: .type)
    }

    enum K: String, CodingKey { case type }
}

/// Errors writing a run's output.
public enum RunDirectoryError: Error, CustomStringConvertible {
    case notWritable(String, String)
    case writeFailed(String, String)

    public var description: String {
        switch self {
        case .notWritable(let p, let why): return "output folder \(p) is not writable: \(why)"
        case .writeFailed(let p, let why): return "could not write \(p): \(why)"
        }
    }
}
