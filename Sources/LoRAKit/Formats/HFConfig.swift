import Foundation

/// Reads a Hugging Face `config.json` of a Llama-family model into a `LlamaConfig`.
public enum HFConfig {
    /// `architectures` values accepted (all share the Llama layer layout).
    public static let supportedArchitectures: Set<String> = [
        "LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
    ]

    /// `model_type` → architecture (Mistral is Llama with a sliding window).
    static let modelTypes: [String: ModelArchitecture] = ["llama": .llama, "mistral": .llama, "qwen2": .qwen2, "qwen3": .qwen3]
    /// `architectures[0]` → architecture.
    static let architectureClasses: [String: ModelArchitecture] = [
        "LlamaForCausalLM": .llama, "MistralForCausalLM": .llama, "Qwen2ForCausalLM": .qwen2, "Qwen3ForCausalLM": .qwen3,
    ]

    /// Parses the `config.json` at `path`.
    public static func load(path: String) throws -> LlamaConfig {
        try parse(try readJSONFile(path: path), path: path)
    }

    /// Largest JSON side file read (config.json, index files).
    static let maxJSONFileBytes = 64 << 20

    /// Reads a JSON side file, refusing anything larger than `maxJSONFileBytes`.
    static func readJSONFile(path: String) throws -> Data {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard let size else { throw FormatError.io(path: path, message: "cannot read") }
        guard size <= maxJSONFileBytes else {
            throw FormatError.invalidValue(path: path, field: "file size", offset: 0,
                                           message: "\(size) bytes; JSON files over \(maxJSONFileBytes) bytes are refused")
        }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError.io(path: path, message: "cannot read: \(error.localizedDescription)")
        }
    }

    /// Parses `config.json` bytes (`path` names them in errors).
    public static func parse(_ data: Data, path: String) throws -> LlamaConfig {
        guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw FormatError.invalidValue(path: path, field: "config.json", offset: 0, message: "not a JSON object")
        }
        var architecture = ModelArchitecture.llama
        if let mt = top["model_type"] as? String, let a = modelTypes[mt] { architecture = a }
        if let archs = top["architectures"] {
            guard let list = archs as? [String], let a = list.first else {
                throw FormatError.wrongType(path: path, key: "architectures", expected: "array of strings", found: "\(type(of: archs))")
            }
            guard supportedArchitectures.contains(a) else {
                throw FormatError.unsupported(path: path, message: "architecture \(a) (supported: \(supportedArchitectures.sorted().joined(separator: ", ")))")
            }
            architecture = architectureClasses[a] ?? architecture
        } else if let mt = top["model_type"] as? String, modelTypes[mt] == nil {
            throw FormatError.unsupported(path: path, message: "model_type \(mt) (supported: \(modelTypes.keys.sorted().joined(separator: ", ")))")
        }

        func int(_ key: String, default def: Int? = nil, in obj: [String: Any]? = nil) throws -> Int {
            let o = obj ?? top
            guard let v = o[key], !(v is NSNull) else {
                if let def { return def }
                throw FormatError.missing(path: path, what: "config key '\(key)'")
            }
            guard let n = SafetensorsFile.jsonInt(v), n > 0 else {
                throw FormatError.wrongType(path: path, key: key, expected: "a positive integer", found: "\(v)")
            }
            return n
        }
        func float(_ key: String, default def: Float? = nil, in obj: [String: Any]? = nil) throws -> Float {
            let o = obj ?? top
            guard let v = o[key], !(v is NSNull) else {
                if let def { return def }
                throw FormatError.missing(path: path, what: "config key '\(key)'")
            }
            guard let n = v as? NSNumber, !(v is String), n.doubleValue.isFinite, n.doubleValue > 0 else {
                throw FormatError.wrongType(path: path, key: key, expected: "a positive number", found: "\(v)")
            }
            return n.floatValue
        }

        let dim = try int("hidden_size")
        let heads = try int("num_attention_heads")
        let kvHeads = try int("num_key_value_heads", default: heads)
        let headDim = top["head_dim"] is NSNull ? nil : top["head_dim"] == nil ? nil : try int("head_dim")
        guard headDim != nil || dim % heads == 0 else {
            throw FormatError.invalidValue(path: path, field: "hidden_size", offset: 0,
                                           message: "\(dim) is not a multiple of num_attention_heads \(heads)")
        }
        guard heads % kvHeads == 0 else {
            throw FormatError.invalidValue(path: path, field: "num_key_value_heads", offset: 0,
                                           message: "\(kvHeads) does not divide num_attention_heads \(heads)")
        }
        var tied = false
        if let t = top["tie_word_embeddings"], !(t is NSNull) {
            guard let b = t as? Bool else {
                throw FormatError.wrongType(path: path, key: "tie_word_embeddings", expected: "bool", found: "\(t)")
            }
            tied = b
        }
        // transformers ≥ 5 writes `rope_parameters` {rope_theta, rope_type, …} instead of rope_theta / rope_scaling.
        let ropeParameters = top["rope_parameters"] as? [String: Any]
        var scaling: RopeScaling? = nil
        var scalingObject = top["rope_scaling"]
        if scalingObject == nil || scalingObject is NSNull, let rp = ropeParameters, (rp["rope_type"] as? String ?? "default") != "default" {
            scalingObject = rp
        }
        if let rs = scalingObject, !(rs is NSNull) {
            guard let o = rs as? [String: Any] else {
                throw FormatError.wrongType(path: path, key: "rope_scaling", expected: "object", found: "\(rs)")
            }
            let kind = (o["rope_type"] as? String) ?? (o["type"] as? String) ?? ""
            guard kind == "llama3" else {
                throw FormatError.unsupported(path: path, message: "rope_scaling type '\(kind)' (only 'llama3' is supported)")
            }
            scaling = RopeScaling(
                factor: try float("factor", in: o), lowFreqFactor: try float("low_freq_factor", in: o),
                highFreqFactor: try float("high_freq_factor", in: o),
                originalContextLength: try int("original_max_position_embeddings", in: o))
        }
        var c = LlamaConfig(
            blockCount: try int("num_hidden_layers"), embeddingLength: dim,
            feedForwardLength: try int("intermediate_size"), headCount: heads, headCountKV: kvHeads,
            vocabSize: try int("vocab_size"), contextLength: try int("max_position_embeddings", default: 2048),
            ropeFreqBase: try float("rope_theta", default: ropeParameters == nil ? 10000 : try float("rope_theta", default: 10000, in: ropeParameters)), rmsNormEps: try float("rms_norm_eps", default: 1e-6),
            tiedEmbeddings: tied, ropeScaling: scaling, architecture: architecture, headDim: headDim)
        c.applyArchitectureDefaults()
        if let b = top["attention_bias"] as? Bool { c.attentionBias = b }
        // Mistral is Llama with a sliding window (null or absent: none); `use_sliding_window` false turns it off.
        if let w = top["sliding_window"], !(w is NSNull), (top["use_sliding_window"] as? Bool) != false {
            guard architecture == .llama else {
                throw FormatError.unsupported(path: path, message: "use_sliding_window for \(architecture.rawValue) (its window applies from max_window_layers on; only Mistral's all-layer window is supported)")
            }
            c.slidingWindow = try int("sliding_window")
        }
        return c
    }
}
