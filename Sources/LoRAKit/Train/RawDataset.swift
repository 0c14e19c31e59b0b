import Foundation

/// The files behind `--data`: a JSONL file (used for training), or a folder with `train.jsonl`
/// and optional `valid.jsonl` / `test.jsonl`.
public struct DatasetFiles: Sendable, Equatable {
    public var train: String
    public var valid: String?
    public var test: String?

    public init(train: String, valid: String? = nil, test: String? = nil) {
        self.train = train; self.valid = valid; self.test = test
    }

    /// Resolves a `--data` path.
    public init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw DatasetError.notFound(path: path) }
        guard isDir.boolValue else { self.init(train: path); return }
        func file(_ name: String) -> String? {
            let p = (path as NSString).appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: p) ? p : nil
        }
        guard let train = file("train.jsonl") else { throw DatasetError.noTrainFile(folder: path) }
        self.init(train: train, valid: file("valid.jsonl"), test: file("test.jsonl"))
    }
}

/// The parsed lines of one JSONL file.
public struct RawDataset: Sendable {
    /// The file, as named in messages.
    public let path: String
    /// The file's line format (from its first valid line).
    public let format: DatasetFormat
    /// The parsed records.
    public let records: [DatasetRecord]
    /// The 1-based line number of each record.
    public let lines: [Int]
    /// Bad lines that were skipped.
    public let warnings: [DatasetWarning]

    /// Reads and parses a JSONL file. Blank lines are ignored; a bad line is skipped with a warning
    /// or thrown, per `policy`. A file without any valid record throws ``DatasetError/empty(path:skippedLines:)``.
    public init(path: String, policy: BadLinePolicy) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DatasetError.unreadable(path: path, message: error.localizedDescription)
        }
        try self.init(bytes: [UInt8](data), path: path, policy: policy)
    }

    /// Parses JSONL bytes; `path` names them in messages.
    public init(bytes: [UInt8], path: String, policy: BadLinePolicy) throws {
        var format: DatasetFormat?
        var records = [DatasetRecord](), lines = [Int](), warnings = [DatasetWarning]()
        var lineNo = 0
        var start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0   // a UTF-8 byte-order mark
        let n = bytes.count
        while start < n {
            lineNo += 1
            var end = start
            while end < n && bytes[end] != 0x0A { end += 1 }
            var stop = end
            if stop > start && bytes[stop - 1] == 0x0D { stop -= 1 }
            let line = bytes[start..<stop]
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
            switch DatasetRecord.parse(line, format: format) {
            case .success(let r):
                format = r.format
                records.append(r)
                lines.append(lineNo)
            case .failure(let problem):
                if policy == .fail { throw DatasetError.badLine(file: path, line: lineNo, problem: problem) }
                warnings.append(DatasetWarning(file: path, line: lineNo, problem: problem))
            }
        }
        guard let format, !records.isEmpty else { throw DatasetError.empty(path: path, skippedLines: warnings.count) }
        self.path = path
        self.format = format
        self.records = records
        self.lines = lines
        self.warnings = warnings
    }
}
