extension LlamaConfig {
    /// `general.architecture` values whose models LoRAKit loads.
    public static let supportedArchitectures: Set<String> = ["llama", "qwen2", "qwen3", "gemma3"]

    static func unsupportedArchitecture(_ arch: String) -> String {
        "general.architecture is '\(arch)'; LoRAKit loads \(supportedArchitectures.sorted().map { "'\($0)'" }.joined(separator: ", ")) models"
    }

    /// Reads the `<arch>.*` architecture keys of a GGUF file (`general.architecture` one of `supportedArchitectures`).
    public init(gguf f: GGUFFile) throws {
        let md = f.metadata
        guard let arch = md["general.architecture"]?.string else {
            throw FormatError.missing(path: f.path, what: "metadata key 'general.architecture'")
        }
        guard LlamaConfig.supportedArchitectures.contains(arch) else {
            throw FormatError.unsupported(path: f.path, message: LlamaConfig.unsupportedArchitecture(arch))
        }
        let architecture = ModelArchitecture(rawValue: arch) ?? .llama
        let pre = arch + "."
        func int(_ key: String, default def: Int? = nil) throws -> Int {
            guard let v = md[pre + key] else {
                if let def { return def }
                throw FormatError.missing(path: f.path, what: "metadata key '\(pre)\(key)'")
            }
            guard let i = v.int, i > 0 else {
                throw FormatError.invalidValue(path: f.path, field: pre + key, offset: 0, message: "\(v) is not a positive integer")
            }
            return i
        }
        func float(_ key: String, default def: Float) throws -> Float {
            guard let v = md[pre + key] else { return def }
            guard let d = v.float, d.isFinite, d > 0 else {
                throw FormatError.invalidValue(path: f.path, field: pre + key, offset: 0, message: "\(v) is not a positive number")
            }
            return Float(d)
        }
        let dim = try int("embedding_length")
        let heads = try int("attention.head_count")
        let kv = try int("attention.head_count_kv", default: heads)
        let keyLength = md[pre + "attention.key_length"] == nil ? nil : try int("attention.key_length")
        guard keyLength != nil || dim % heads == 0, heads % kv == 0 else {
            throw FormatError.invalidValue(path: f.path, field: pre + "attention.head_count", offset: 0,
                                           message: "embedding_length \(dim), head_count \(heads), head_count_kv \(kv) are inconsistent")
        }
        let hd = keyLength ?? dim / heads
        if let vl = md[pre + "attention.value_length"]?.int, vl != hd {
            throw FormatError.unsupported(path: f.path, message: "\(pre)attention.value_length \(vl) differs from the key length \(hd)")
        }
        if let rd = md[pre + "rope.dimension_count"]?.int, rd != hd {
            throw FormatError.unsupported(path: f.path, message: "\(pre)rope.dimension_count \(rd) differs from the head size \(hd)")
        }
        let vocabDefault = f.tensorInfo(named: "token_embd.weight")?.dims.last ?? md["tokenizer.ggml.tokens"]?.array?.count
        self.init(blockCount: try int("block_count"), embeddingLength: dim,
                  feedForwardLength: try int("feed_forward_length"), headCount: heads, headCountKV: kv,
                  vocabSize: try int("vocab_size", default: vocabDefault), contextLength: try int("context_length", default: 2048),
                  ropeFreqBase: try float("rope.freq_base", default: 10000),
                  rmsNormEps: try float("attention.layer_norm_rms_epsilon", default: 1e-5),
                  tiedEmbeddings: f.tensorInfo(named: "output.weight") == nil,
                  architecture: architecture, headDim: keyLength)
        if md[pre + "attention.sliding_window"] != nil { slidingWindow = try int("attention.sliding_window") }
        applyArchitectureDefaults()
        if f.tensorInfo(named: "blk.0.attn_q.bias") != nil { attentionBias = true }
        if architecture == .gemma3 { try applyGemma3(metadata: md, path: f.path) }
    }
}
