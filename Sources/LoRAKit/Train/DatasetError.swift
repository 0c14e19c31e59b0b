/// What is wrong with one line of a JSONL dataset.
public enum LineProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// The line's bytes are not valid UTF-8.
    case invalidUTF8
    /// The line is not valid JSON (the parser's message).
    case invalidJSON(String)
    /// The line is JSON but not an object.
    case notAnObject
    /// A field the file's format needs is absent.
    case missingField(String)
    /// A field has the wrong JSON type.
    case wrongType(field: String, expected: String)
    /// A text field is empty.
    case emptyText(field: String)
    /// The object has none of the recognized field sets (text / messages / prompt+completion).
    case unknownFormat(keys: [String])
    /// A chat message has a role LoRAKit does not know (e.g. ShareGPT's `human`/`gpt` under `messages`).
    case unknownRole(field: String, role: String, shareGPT: Bool)
    /// A chat line has no assistant turn, so nothing in it would be learned.
    case noAssistantTurn(count: Int)
    /// The chat template cannot render the conversation (its reason).
    case templateRejects(String)
    /// After tokenization no token is left to compute a loss on (e.g. everything is masked prompt).
    case nothingToLearn

    public var description: String {
        switch self {
        case .invalidUTF8: return "invalid UTF-8"
        case .invalidJSON(let m): return "invalid JSON (\(m))"
        case .notAnObject: return "not a JSON object"
        case .missingField(let f): return "missing field '\(f)'"
        case .wrongType(let f, let t): return "field '\(f)' must be \(t)"
        case .emptyText(let f): return "field '\(f)' is empty"
        case .unknownFormat(let keys):
            return "unrecognized line format (keys: \(keys.sorted().joined(separator: ", "))); expected {\"text\"}, "
                + "{\"messages\": [{\"role\", \"content\"}]}, {\"conversations\": [{\"from\", \"value\"}]} or {\"prompt\", \"completion\"}"
        case .unknownRole(let f, let r, let shareGPT):
            if shareGPT {
                return "'\(f)' is '\(r)', not a known ShareGPT speaker (human, gpt, system)"
            }
            let hint = DatasetRecord.shareGPTRoles[r] != nil && !DatasetRecord.chatRoles.contains(r)
                ? "; ShareGPT lines are {\"conversations\": [{\"from\": \"human\"|\"gpt\", \"value\": …}]}, "
                    + "or use role '\(DatasetRecord.shareGPTRoles[r]!)'" : ""
            return "'\(f)' is '\(r)', not a known role (\(DatasetRecord.chatRoles.joined(separator: ", ")))" + hint
        case .noAssistantTurn(let n):
            return "the conversation (\(n) message\(n == 1 ? "" : "s")) has no assistant turn, so there is nothing to learn"
        case .templateRejects(let why): return why
        case .nothingToLearn: return "no token left to learn from after masking and truncation"
        }
    }
}

/// A bad line that was skipped (policy ``BadLinePolicy/skip``).
public struct DatasetWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var problem: LineProblem
    public init(file: String, line: Int, problem: LineProblem) { self.file = file; self.line = line; self.problem = problem }
    public var description: String { "\(file):\(line): \(problem) (skipped)" }
}

/// Errors from loading or tokenizing a dataset. Each names the file (and line where one is at fault).
public enum DatasetError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `--data` names nothing that exists.
    case notFound(path: String)
    /// A dataset folder without `train.jsonl`.
    case noTrainFile(folder: String)
    /// The file could not be read.
    case unreadable(path: String, message: String)
    /// A bad line under policy ``BadLinePolicy/fail``.
    case badLine(file: String, line: Int, problem: LineProblem)
    /// The file holds no usable example.
    case empty(path: String, skippedLines: Int)
    /// The chat template needed for `messages` lines is missing or unknown.
    case chatTemplate(path: String, problem: String)
    /// An option has an impossible value.
    case invalidOption(String)

    public var description: String {
        switch self {
        case .notFound(let p): return "\(p): no such dataset file or folder"
        case .noTrainFile(let f): return "\(f): dataset folder has no train.jsonl"
        case .unreadable(let p, let m): return "\(p): cannot read (\(m))"
        case .badLine(let f, let l, let p): return "\(f):\(l): \(p)"
        case .empty(let p, let skipped):
            return skipped > 0 ? "\(p): no usable example (\(skipped) bad lines skipped)" : "\(p): the dataset is empty"
        case .chatTemplate(let p, let m): return "\(p): \(m)"
        case .invalidOption(let m): return "invalid dataset option: \(m)"
        }
    }
}

/// What to do with a bad line.
public enum BadLinePolicy: String, Codable, Sendable, CaseIterable {
    /// Skip it and record a ``DatasetWarning``.
    case skip
    /// Throw ``DatasetError/badLine(file:line:problem:)``.
    case fail
}
