import Foundation

/// How dataset lines become training sequences.
public struct DatasetOptions: Codable, Sendable, Equatable {
    /// What to do with bad lines.
    public var badLines: BadLinePolicy
    /// Compute the loss only on completions (prompt-completion) and assistant turns (chat).
    public var maskPrompt: Bool
    /// Tokens per training sequence.
    public var contextLength: Int
    /// Pack examples back to back to fill each sequence instead of one example per sequence.
    /// Without packing, longer examples are truncated to `contextLength + 1` tokens (counted).
    public var packing: Bool
    /// Append the EOS token to text and completions.
    public var appendEOS: Bool
    /// A built-in chat template name to use instead of detecting the model's (see ``ChatTemplate/builtinNames``).
    public var chatTemplate: String?

    public init(badLines: BadLinePolicy = .fail, maskPrompt: Bool = false, contextLength: Int = 2048,
                packing: Bool = false, appendEOS: Bool = true, chatTemplate: String? = nil) {
        self.badLines = badLines; self.maskPrompt = maskPrompt; self.contextLength = contextLength
        self.packing = packing; self.appendEOS = appendEOS; self.chatTemplate = chatTemplate
    }
}

/// One tokenized example: `tokens[i]` is a loss target (predicted from `tokens[..<i]`) when `mask[i]` is 1.
public struct TokenizedExample: Sendable, Equatable {
    public var tokens: [Int32]
    public var mask: [UInt8]
    /// The 1-based line in its file.
    public var line: Int
    public init(tokens: [Int32], mask: [UInt8], line: Int) { self.tokens = tokens; self.mask = mask; self.line = line }
}

/// A tokenized JSONL file.
public struct TokenizedDataset: Sendable {
    public let path: String
    public let format: DatasetFormat
    public let examples: [TokenizedExample]
    /// Examples cut to `contextLength + 1` tokens (without packing).
    public let truncatedCount: Int
    /// Bad lines skipped while reading and tokenizing.
    public let warnings: [DatasetWarning]
    /// Tokens in all examples.
    public var tokenCount: Int { examples.reduce(0) { $0 + $1.tokens.count } }
    /// Tokens that are loss targets.
    public var targetCount: Int { examples.reduce(0) { $0 + $1.mask.reduce(0) { $0 + Int($1) } } }

    /// One line for logs: "train.jsonl: 280 chat examples, 51234 tokens (20480 targets), 3 truncated, 1 bad line skipped".
    public var summary: String {
        var s = "\(path): \(examples.count) \(format.rawValue) examples, \(tokenCount) tokens (\(targetCount) targets)"
        if truncatedCount > 0 { s += ", \(truncatedCount) truncated" }
        if !warnings.isEmpty { s += ", \(warnings.count) bad line\(warnings.count == 1 ? "" : "s") skipped" }
        return s
    }

    /// Tokenizes parsed records.
    public init(_ raw: RawDataset, tokenizer: Tokenizer, options: DatasetOptions) throws {
        guard options.contextLength >= 2 else { throw DatasetError.invalidOption("context length \(options.contextLength) < 2") }
        var template: ChatTemplate?
        if raw.format == .chat {
            do { template = try ChatTemplate(vocabulary: tokenizer.vocabulary, name: options.chatTemplate) } catch {
                throw DatasetError.chatTemplate(path: raw.path, problem: "\(error)")
            }
        }
        let eos: [Int32] = options.appendEOS ? (tokenizer.vocabulary.eosID.map { [Int32($0)] } ?? []) : []
        var examples = [TokenizedExample](), warnings = raw.warnings
        examples.reserveCapacity(raw.records.count)
        var truncated = 0
        let limit = options.contextLength + 1
        for (k, record) in raw.records.enumerated() {
            if case .chat(let msgs) = record, let why = template?.problem(with: msgs) {
                let w = DatasetWarning(file: raw.path, line: raw.lines[k], problem: .templateRejects(why))
                if options.badLines == .fail { throw DatasetError.badLine(file: w.file, line: w.line, problem: w.problem) }
                warnings.append(w)
                continue
            }
            var (tokens, mask) = Self.tokenize(record, tokenizer, template, eos: eos, maskPrompt: options.maskPrompt)
            if !options.packing && tokens.count > limit {
                tokens.removeLast(tokens.count - limit)
                mask.removeLast(mask.count - limit)
                truncated += 1
            }
            if tokens.count < 2 || !mask.dropFirst().contains(1) {
                if options.badLines == .fail {
                    throw DatasetError.badLine(file: raw.path, line: raw.lines[k], problem: .nothingToLearn)
                }
                warnings.append(DatasetWarning(file: raw.path, line: raw.lines[k], problem: .nothingToLearn))
                continue
            }
            examples.append(TokenizedExample(tokens: tokens, mask: mask, line: raw.lines[k]))
        }
        guard !examples.isEmpty else { throw DatasetError.empty(path: raw.path, skippedLines: warnings.count) }
        path = raw.path
        format = raw.format
        self.examples = examples
        truncatedCount = truncated
        self.warnings = warnings
    }

    /// Reads and tokenizes a JSONL file.
    public init(path: String, tokenizer: Tokenizer, options: DatasetOptions) throws {
        try self.init(RawDataset(path: path, policy: options.badLines), tokenizer: tokenizer, options: options)
    }

    static func tokenize(_ r: DatasetRecord, _ tok: Tokenizer, _ template: ChatTemplate?, eos: [Int32],
                         maskPrompt: Bool) -> ([Int32], [UInt8]) {
        let bos = tok.vocabulary.addBOS ? 1 : 0
        switch r {
        case .text(let s):
            let t = tok.encode(s) + eos
            var m = [UInt8](repeating: 1, count: t.count)
            if bos == 1 && !m.isEmpty { m[0] = 0 }
            return (t, m)
        case .promptCompletion(let p, let c):
            let pt = tok.encode(p), ct = tok.encode(c, addBOS: false) + eos
            var m = [UInt8](repeating: maskPrompt ? 0 : 1, count: pt.count) + [UInt8](repeating: 1, count: ct.count)
            if bos == 1 && !m.isEmpty { m[0] = 0 }
            return (pt + ct, m)
        case .chat(let msgs):
            // One rendering, one tokenization: the template records the byte ranges of the assistant
            // turns and the token offsets map them to tokens (linear in the conversation's length).
            let template = template ?? .chatml(defaultSystemPrompt: nil)
            let rendered = template.renderWithSpans(messages: msgs, addGenerationPrompt: false)
            guard maskPrompt else {
                let t = tok.encode(rendered.text, addBOS: false)
                var m = [UInt8](repeating: 1, count: t.count)
                if t.first.map({ Int($0) }) == tok.vocabulary.bosID { m[0] = 0 }
                return (t, m)
            }
            let enc = tok.encodeWithOffsets(rendered.text, addBOS: false)
            return (enc.ids, enc.mask(covering: rendered.assistantSpans))
        }
    }
}

/// The train / valid / test splits behind `--data`, tokenized.
public struct TrainingData: Sendable {
    public let files: DatasetFiles
    public let train: TokenizedDataset
    public let valid: TokenizedDataset?
    public let test: TokenizedDataset?
    /// All skipped bad lines, in file order.
    public var warnings: [DatasetWarning] { train.warnings + (valid?.warnings ?? []) + (test?.warnings ?? []) }

    /// Resolves `--data`, then reads and tokenizes every split. An empty training set, or any
    /// bad line under policy `fail`, throws before anything else happens.
    public init(path: String, tokenizer: Tokenizer, options: DatasetOptions) throws {
        files = try DatasetFiles(path: path)
        let rawTrain = try RawDataset(path: files.train, policy: options.badLines)
        let rawValid = try files.valid.map { try RawDataset(path: $0, policy: options.badLines) }
        let rawTest = try files.test.map { try RawDataset(path: $0, policy: options.badLines) }
        train = try TokenizedDataset(rawTrain, tokenizer: tokenizer, options: options)
        valid = try rawValid.map { try TokenizedDataset($0, tokenizer: tokenizer, options: options) }
        test = try rawTest.map { try TokenizedDataset($0, tokenizer: tokenizer, options: options) }
    }
}
