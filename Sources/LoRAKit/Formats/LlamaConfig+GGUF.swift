extension LlamaConfig {
    /// `general.architecture` values whose models LoRAKit loads.
    public static let supportedArchitectures: Set<String> = ["llama"]

    static func unsupportedArchitecture(_ arch: String) -> String {
        "general.architecture is '\(arch)'; LoRAKit loads \(supportedArchitectures.sorted().map { "'\($0)'" }.joined(separator: ", ")) models"
    }

    /// Reads the `llama.*` architecture keys of a GGUF file (`general.architecture` must be `llama`).
    public init(gguf f: GGUFFile) throws {
        let md = f.metadata
        guard let arch = md["general.architecture"]?.string else {
            throw FormatError.missing(path: f.path, what: "metadata key 'general.architecture'")
        }
        guard LlamaConfig.supportedArchitectures.contains(arch) else {
            throw FormatError.unsupported(path: f.path, message: LlamaConfig.unsupportedArchitecture(arch))
        }
        func int(_ key: String, default def: Int? = nil) throws -> Int {
            guard let v = md["llama." + key] else {
                if let def { return def }
                throw FormatError.missing(path: f.path, what: "metadata key 'llama.\(key)'")
            }
            guard let i = v.int, i > 0 else {
                throw FormatError.invalidValue(path: f.path, field: "llama.\(key)", offset: 0, message: "\(v) is not a positive integer")
            }
            return i
        }
        func float(_ key: String, default def: Float) throws -> Float {
            guard let v = md["llama." + key] else { return def }
            guard let d = v.float, d.isFinite, d > 0 else {
                throw FormatError.invalidValue(path: f.path, field: "llama.\(key)", offset: 0, message: "\(v) is not a positive number")
            }
            return Float(d)
        }
        let dim = try int("embedding_length")
        let heads = try int("attention.head_count")
        let kv = try int("attention.head_count_kv", default: heads)
        guard dim % heads == 0, heads % kv == 0 else {
            throw FormatError.invalidValue(path: f.path, field: "llama.attention.head_count", offset: 0,
                                           message: "embedding_length \(dim), head_count \(heads), head_count_kv \(kv) are inconsistent")
        }
        if let rd = md["llama.rope.dimension_count"]?.int, rd != dim / heads {
            throw FormatError.unsupported(path: f.path, message: "llama.rope.dimension_count \(rd) differs from the head size \(dim / heads)")
        }
        let vocabDefault = f.tensorInfo(named: "token_embd.weight")?.dims.last ?? md["tokenizer.ggml.tokens"]?.array?.count
        self.init(blockCount: try int("block_count"), embeddingLength: dim,
                  feedForwardLength: try int("feed_forward_length"), headCount: heads, headCountKV: kv,
                  vocabSize: try int("vocab_size", default: vocabDefault), contextLength: try int("context_length", default: 2048),
                  ropeFreqBase: try float("rope.freq_base", default: 10000),
                  rmsNormEps: try float("attention.layer_norm_rms_epsilon", default: 1e-5),
                  tiedEmbeddings: f.tensorInfo(named: "output.weight") == nil)
    }
}
