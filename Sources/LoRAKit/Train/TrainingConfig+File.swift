import Foundation

/// Errors of a training configuration file (`--config run.json`): each names the file and the field.
public enum ConfigFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(String)
    case invalidJSON(String, String)
    /// Keys the file format does not have, each with the nearest known key (nil: none close).
    case unknownKeys(String, [UnknownKey])
    /// A field holds a value of the wrong kind (`expected`: "an integer", "true or false", …).
    case wrongType(String, field: String, expected: String, got: String)

    public struct UnknownKey: Equatable, Sendable {
        public var key: String
        public var suggestion: String?
    }

    public var description: String {
        switch self {
        case .unreadable(let p): return "cannot read config file \(p)"
        case .invalidJSON(let p, let why): return "config file \(p) is not valid JSON: \(why)"
        case .unknownKeys(let p, let keys):
            let list = keys.map { k in "'\(k.key)'" + (k.suggestion.map { " (did you mean '\($0)'?)" } ?? "") }
            return "config file \(p): unknown key\(keys.count == 1 ? "" : "s") \(list.joined(separator: ", ")); "
                + "the file uses the names of run_config.json (e.g. batchSize, sequenceLength, learningRate, lora.rank), "
                + "not the command-line spellings"
        case .wrongType(let p, let f, let e, let g): return "config file \(p): '\(f)' must be \(e) (got \(g))"
        }
    }
}

extension TrainingConfig {
    /// Reads a configuration file over `base`: keys present in the file replace the base's values,
    /// absent keys keep them. Strict: unknown keys (with the nearest known name) and values of the
    /// wrong kind are errors naming the field. `"precision": "auto"` picks `ComputePrecision.preferred`.
    public static func load(file path: String, over base: TrainingConfig) throws -> TrainingConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConfigFileError.unreadable(path) }
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: data) } catch {
            throw ConfigFileError.invalidJSON(path, describeJSONError(error))
        }
        guard case .object(var fields) = root else {
            throw ConfigFileError.invalidJSON(path, "the top level must be an object {…}")
        }
        try ConfigSchema.check(fields, schema: ConfigSchema.training, prefix: "", file: path)
        if case .string("auto")? = fields["precision"] { fields["precision"] = .string(ComputePrecision.preferred.rawValue) }
        // Overlay the file on the base (objects merged key by key) and decode the result.
        let enc = JSONEncoder()
        let baseValue = try JSONDecoder().decode(JSONValue.self, from: enc.encode(base))
        let merged = baseValue.overlaid(with: .object(fields))
        do { return try JSONDecoder().decode(TrainingConfig.self, from: enc.encode(merged)) } catch {
            throw ConfigFileError.invalidJSON(path, describeJSONError(error))
        }
    }
}

/// The expected kind of every field of a configuration file.
enum ConfigSchema {
    indirect enum Kind {
        case integer, nonNegativeInteger, number, bool, string, optional(Kind), choice([String]), targets, object([String: Kind])

        var expected: String {
            switch self {
            case .integer: return "an integer"
            case .nonNegativeInteger: return "a non-negative integer"
            case .number: return "a number"
            case .bool: return "true or false"
            case .string: return "a string"
            case .optional(let k): return k.expected + " or null"
            case .choice(let c): return "one of " + c.map { "\"\($0)\"" }.joined(separator: ", ")
            case .targets: return "a list of module names (e.g. [\"q_proj\", \"v_proj\"]) or \"all-linear\""
            case .object: return "an object {…}"
            }
        }
    }

    static let lora: [String: Kind] = [
        "rank": .integer, "alpha": .number, "dropout": .number, "useRSLoRA": .bool, "targets": .targets,
        "seed": .nonNegativeInteger, "quantAware": .bool, "quantGrid": .bool, "useDoRA": .bool,
    ]
    static let optimizer: [String: Kind] = [
        "beta1": .number, "beta2": .number, "eps": .number, "weightDecay": .number, "maxGradNorm": .optional(.number),
        "loraPlusRatio": .optional(.number),
    ]
    static let training: [String: Kind] = [
        "lora": .object(lora), "optimizer": .object(optimizer), "learningRate": .number,
        "schedule": .choice(LRSchedule.Kind.allCases.map(\.rawValue)), "warmupSteps": .integer, "steps": .optional(.integer),
        "epochs": .number, "batchSize": .integer, "sequenceLength": .integer, "gradientAccumulation": .integer,
        "maskPrompt": .bool, "packing": .bool, "seed": .nonNegativeInteger, "threads": .optional(.integer),
        "evalInterval": .integer, "evalBatches": .integer, "saveInterval": .integer, "checkpointing": .bool,
        "badLines": .choice(["fail", "skip"]), "chatTemplate": .optional(.string), "keepCheckpoints": .integer,
        "nonFiniteLimit": .integer, "numa": .choice(NUMAMode.allCases.map(\.rawValue)),
        "precision": .choice(["auto"] + ComputePrecision.allCases.map(\.rawValue)),
    ]

    /// Command-line spellings and common synonyms → the file's key path.
    static let aliases: [String: String] = [
        "batch-size": "batchSize", "seq-len": "sequenceLength", "seqlen": "sequenceLength", "lr": "learningRate",
        "learning-rate": "learningRate", "rank": "lora.rank", "r": "lora.rank", "alpha": "lora.alpha", "lora_alpha": "lora.alpha",
        "dropout": "lora.dropout", "lora_dropout": "lora.dropout", "targets": "lora.targets", "target_modules": "lora.targets",
        "rslora": "lora.useRSLoRA", "use_rslora": "lora.useRSLoRA", "grad-accum": "gradientAccumulation",
        "warmup": "warmupSteps", "weight-decay": "optimizer.weightDecay", "max-grad-norm": "optimizer.maxGradNorm",
        "eval-interval": "evalInterval", "eval-batches": "evalBatches", "save-interval": "saveInterval",
        "keep-checkpoints": "keepCheckpoints", "non-finite-limit": "nonFiniteLimit", "mask-prompt": "maskPrompt",
        "dora": "lora.useDoRA", "use_dora": "lora.useDoRA", "lora-plus-ratio": "optimizer.loraPlusRatio",
        "loraplus_lr_ratio": "optimizer.loraPlusRatio", "bad-lines": "badLines", "quant-aware": "lora.quantAware", "quant-grid": "lora.quantGrid", "chat-template": "chatTemplate", "max_steps": "steps", "num_train_epochs": "epochs",
    ]

    static func allPaths(_ schema: [String: Kind], _ prefix: String = "") -> [String] {
        schema.flatMap { k, v -> [String] in
            if case .object(let sub) = v { return [prefix + k] + allPaths(sub, prefix + k + ".") }
            return [prefix + k]
        }
    }

    static func check(_ fields: [String: JSONValue], schema: [String: Kind], prefix: String, file: String) throws {
        let unknown = fields.keys.filter { schema[$0] == nil }.sorted()
        if !unknown.isEmpty {
            throw ConfigFileError.unknownKeys(file, unknown.map { .init(key: prefix + $0, suggestion: suggest(prefix + $0)) })
        }
        for (k, v) in fields.sorted(by: { $0.key < $1.key }) {
            try check(v, kind: schema[k]!, field: prefix + k, file: file)
        }
    }

    static func check(_ v: JSONValue, kind: Kind, field: String, file: String) throws {
        func wrong() -> ConfigFileError { .wrongType(file, field: field, expected: kind.expected, got: v.shortDescription) }
        switch (kind, v) {
        case (.optional, .null): return
        case (.optional(let k), _):
            do { try check(v, kind: k, field: field, file: file) } catch ConfigFileError.wrongType { throw wrong() }
        case (.integer, .integer): return
        case (.nonNegativeInteger, .integer(let i)): if i < 0 { throw wrong() }
        case (.nonNegativeInteger, .unsigned): return
        case (.number, .integer), (.number, .unsigned), (.number, .double): return
        case (.bool, .bool), (.string, .string): return
        case (.choice(let c), .string(let s)): if !c.contains(s) { throw wrong() }
        case (.targets, .string): return
        case (.targets, .array(let a)): if !a.allSatisfy({ if case .string = $0 { return true }; return false }) { throw wrong() }
        case (.object(let sub), .object(let o)): try check(o, schema: sub, prefix: field + ".", file: file)
        default: throw wrong()
        }
    }

    /// The known key closest to `key`: an alias, else the smallest edit distance (case, '-' and '_' ignored).
    static func suggest(_ key: String) -> String? {
        let leaf = key.split(separator: ".").last.map(String.init) ?? key
        if let a = aliases[leaf] ?? aliases[leaf.lowercased()] { return a }
        func norm(_ s: String) -> [Character] { Array(s.lowercased().filter { $0 != "-" && $0 != "_" && $0 != "." }) }
        let k = norm(key)
        var best: (String, Int)?
        for p in allPaths(training) {
            for candidate in [p, p.split(separator: ".").last.map(String.init) ?? p] {
                let d = editDistance(k, norm(candidate))
                if d < (best?.1 ?? Int.max) { best = (p, d) }
            }
        }
        guard let (p, d) = best, d <= max(2, k.count / 3) else { return nil }
        return p
    }

    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        var prev = Array(0...b.count)
        for i in 1...a.count {
            var cur = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            prev = cur
        }
        return prev[b.count]
    }
}

/// "line 3, column 7: …" style text for a JSON decoding failure.
func describeJSONError(_ error: Error) -> String {
    switch error {
    case DecodingError.dataCorrupted(let c):
        let underlying = (c.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
        return underlying ?? c.debugDescription
    case DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c), DecodingError.keyNotFound(_, let c):
        let path = c.codingPath.map(\.stringValue).joined(separator: ".")
        return (path.isEmpty ? "" : "'\(path)': ") + c.debugDescription
    default: return "\(error)"
    }
}

/// Any JSON value, decoded without losing whether a number was an integer.
enum JSONValue: Codable, Equatable {
    case null, bool(Bool), integer(Int64), unsigned(UInt64), double(Double), string(String), array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int64.self) { self = .integer(i) }
        else if let u = try? c.decode(UInt64.self) { self = .unsigned(u) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .unsigned(let u): try c.encode(u)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// `self` with `other`'s keys replacing its own; objects are merged key by key.
    func overlaid(with other: JSONValue) -> JSONValue {
        guard case .object(var mine) = self, case .object(let theirs) = other else { return other }
        for (k, v) in theirs { mine[k] = mine[k].map { $0.overlaid(with: v) } ?? v }
        return .object(mine)
    }

    var shortDescription: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .integer(let i): return String(i)
        case .unsigned(let u): return String(u)
        case .double(let d): return String(d)
        case .string(let s): return "\"\(s.prefix(40))\""
        case .array(let a): return "a list of \(a.count)"
        case .object: return "an object"
        }
    }
}
