/// Llama 3.1 "llama3" RoPE frequency scaling parameters.
public struct RopeScaling: Sendable, Codable, Equatable {
    public var factor: Float
    public var lowFreqFactor: Float
    public var highFreqFactor: Float
    public var originalContextLength: Int

    public init(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalContextLength: Int) {
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalContextLength = originalContextLength
    }
}

/// The decoder family a model belongs to. Every one runs the same layer (`LayerRunner.layerForward`); the
/// differences are fields of `LlamaConfig`. Mistral models are `.llama` (GGUF converters write them as `llama`;
/// an HF `mistral` config is read as `.llama` with its `slidingWindow`).
public enum ModelArchitecture: String, Codable, Sendable, CaseIterable {
    case llama, qwen2, qwen3, gemma3
}

/// How RoPE pairs the features of a head.
public enum RopeStyle: String, Codable, Sendable {
    /// Adjacent pairs (2i, 2i+1): GGUF `llama` rows (the converter permutes HF q/k rows into this order).
    case interleaved
    /// Rotate-half pairs (i, i + hd/2): HF order, kept as is by the converter for Qwen and Gemma.
    case neox
}

/// The gate nonlinearity of the gated feed-forward block.
public enum FFNActivation: String, Codable, Sendable {
    /// SwiGLU: silu(g)·u.
    case silu
    /// GeGLU with the tanh approximation of GELU: gelu_tanh(g)·u.
    case geluTanh
}

/// Architecture of a Llama-family model, whichever file it came from. Every field added after plain Llama has a
/// default giving Llama's behaviour, and JSON lacking it (checkpoints, run records) decodes to that default.
public struct LlamaConfig: Sendable, Codable, Equatable {
    public var blockCount: Int
    public var embeddingLength: Int
    public var feedForwardLength: Int
    public var headCount: Int
    public var headCountKV: Int
    public var vocabSize: Int
    public var contextLength: Int
    public var ropeFreqBase: Float
    public var rmsNormEps: Float
    /// LM head shares the token embedding matrix.
    public var tiedEmbeddings: Bool
    /// Llama 3.1 rope scaling (nil for plain RoPE).
    public var ropeScaling: RopeScaling?

    /// Decoder family (`.llama` for Llama and Mistral).
    public var architecture: ModelArchitecture = .llama
    /// RoPE pairing of q/k rows as stored in the loaded weights.
    public var ropeStyle: RopeStyle = .interleaved
    /// q/k/v projections add a frozen bias (Qwen2).
    public var attentionBias: Bool = false
    /// q and k are RMS-normalized per head before RoPE (Qwen3, Gemma 3).
    public var qkNorm: Bool = false
    /// Keys attended per query, the query's own included (Mistral, Gemma 3 local layers); nil = unbounded.
    public var slidingWindow: Int?
    /// Gemma 3: every `slidingWindowPattern`-th layer (l + 1 ≡ 0 mod pattern) is global, the others use
    /// `slidingWindow`; nil = every layer uses `slidingWindow`.
    public var slidingWindowPattern: Int?
    /// Gemma 3: RoPE base of windowed (local) layers; nil = `ropeFreqBase`.
    public var ropeLocalBase: Float?
    /// Multiplier of the token embeddings (Gemma 3: √C).
    public var embeddingScale: Float = 1
    /// Gemma 3: RMSNorm after attention and after the FFN, before each residual add.
    public var postNorms: Bool = false
    /// Gate nonlinearity of the feed-forward block.
    public var activation: FFNActivation = .silu
    /// Attention logit scale; nil = 1/√headDim.
    public var queryScale: Float?
    /// Per-head dimension when it is not C / heads (GGUF `attention.key_length`, HF `head_dim`).
    private var storedHeadDim: Int?

    public init(blockCount: Int, embeddingLength: Int, feedForwardLength: Int, headCount: Int,
                headCountKV: Int, vocabSize: Int, contextLength: Int, ropeFreqBase: Float,
                rmsNormEps: Float, tiedEmbeddings: Bool, ropeScaling: RopeScaling? = nil,
                architecture: ModelArchitecture = .llama, headDim: Int? = nil) {
        self.blockCount = blockCount
        self.embeddingLength = embeddingLength
        self.feedForwardLength = feedForwardLength
        self.headCount = headCount
        self.headCountKV = headCountKV
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.ropeFreqBase = ropeFreqBase
        self.rmsNormEps = rmsNormEps
        self.tiedEmbeddings = tiedEmbeddings
        self.ropeScaling = ropeScaling
        self.architecture = architecture
        self.storedHeadDim = headDim == embeddingLength / max(headCount, 1) ? nil : headDim
    }

    /// Per-head dimension: the file's value, else C / heads. Setting it fixes it (C / heads may then differ).
    public var headDim: Int {
        get { storedHeadDim ?? embeddingLength / max(headCount, 1) }
        set { storedHeadDim = newValue == embeddingLength / max(headCount, 1) ? nil : newValue }
    }
    /// Output features of q_proj (input features of o_proj): Hq·hd, which differs from C when head_dim ≠ C / heads.
    public var qDim: Int { headDim * headCount }
    /// Output features of k_proj and v_proj (smaller than q_proj under grouped-query attention).
    public var kvDim: Int { headDim * headCountKV }

    /// Keys a query of layer `layer` attends to, its own included (nil = every earlier key).
    public func attentionWindow(layer: Int) -> Int? {
        guard let w = slidingWindow else { return nil }
        if let p = slidingWindowPattern, p > 0, (layer + 1) % p == 0 { return nil }
        return w
    }

    /// RoPE base of layer `layer`: `ropeLocalBase` on windowed layers when set, else `ropeFreqBase`.
    public func ropeBase(layer: Int) -> Float {
        if attentionWindow(layer: layer) != nil, let b = ropeLocalBase { return b }
        return ropeFreqBase
    }

    /// Sets the fields an architecture fixes (whatever file it came from): Qwen2 = Llama + q/k/v biases and NEOX
    /// RoPE; Qwen3 = Llama + per-head q/k RMSNorm and NEOX RoPE.
    public mutating func applyArchitectureDefaults() {
        switch architecture {
        case .llama: break
        case .qwen2: ropeStyle = .neox; attentionBias = true
        case .qwen3: ropeStyle = .neox; qkNorm = true
        case .gemma3: setGemma3Architecture()
        }
    }

    /// The attention logit scale: `queryScale`, else 1/√headDim.
    public var attentionScale: Float { queryScale ?? 1 / Float(headDim).squareRoot() }

    // Codable: the fields added after plain Llama are optional in JSON and written only when they differ from
    // Llama's defaults, so records of Llama models read and write as before.
    private enum CodingKeys: String, CodingKey {
        case blockCount, embeddingLength, feedForwardLength, headCount, headCountKV, vocabSize, contextLength,
             ropeFreqBase, rmsNormEps, tiedEmbeddings, ropeScaling
        case architecture, headDim, ropeStyle, attentionBias, qkNorm, slidingWindow, slidingWindowPattern,
             ropeLocalBase, embeddingScale, postNorms, activation, queryScale
    }

    public init(from decoder: Decoder) throws {
        let k = try decoder.container(keyedBy: CodingKeys.self)
        blockCount = try k.decode(Int.self, forKey: .blockCount)
        embeddingLength = try k.decode(Int.self, forKey: .embeddingLength)
        feedForwardLength = try k.decode(Int.self, forKey: .feedForwardLength)
        headCount = try k.decode(Int.self, forKey: .headCount)
        headCountKV = try k.decode(Int.self, forKey: .headCountKV)
        vocabSize = try k.decode(Int.self, forKey: .vocabSize)
        contextLength = try k.decode(Int.self, forKey: .contextLength)
        ropeFreqBase = try k.decode(Float.self, forKey: .ropeFreqBase)
        rmsNormEps = try k.decode(Float.self, forKey: .rmsNormEps)
        tiedEmbeddings = try k.decode(Bool.self, forKey: .tiedEmbeddings)
        ropeScaling = try k.decodeIfPresent(RopeScaling.self, forKey: .ropeScaling)
        architecture = try k.decodeIfPresent(ModelArchitecture.self, forKey: .architecture) ?? .llama
        storedHeadDim = try k.decodeIfPresent(Int.self, forKey: .headDim)
        ropeStyle = try k.decodeIfPresent(RopeStyle.self, forKey: .ropeStyle) ?? .interleaved
        attentionBias = try k.decodeIfPresent(Bool.self, forKey: .attentionBias) ?? false
        qkNorm = try k.decodeIfPresent(Bool.self, forKey: .qkNorm) ?? false
        slidingWindow = try k.decodeIfPresent(Int.self, forKey: .slidingWindow)
        slidingWindowPattern = try k.decodeIfPresent(Int.self, forKey: .slidingWindowPattern)
        ropeLocalBase = try k.decodeIfPresent(Float.self, forKey: .ropeLocalBase)
        embeddingScale = try k.decodeIfPresent(Float.self, forKey: .embeddingScale) ?? 1
        postNorms = try k.decodeIfPresent(Bool.self, forKey: .postNorms) ?? false
        activation = try k.decodeIfPresent(FFNActivation.self, forKey: .activation) ?? .silu
        queryScale = try k.decodeIfPresent(Float.self, forKey: .queryScale)
    }

    public func encode(to encoder: Encoder) throws {
        var k = encoder.container(keyedBy: CodingKeys.self)
        try k.encode(blockCount, forKey: .blockCount)
        try k.encode(embeddingLength, forKey: .embeddingLength)
        try k.encode(feedForwardLength, forKey: .feedForwardLength)
        try k.encode(headCount, forKey: .headCount)
        try k.encode(headCountKV, forKey: .headCountKV)
        try k.encode(vocabSize, forKey: .vocabSize)
        try k.encode(contextLength, forKey: .contextLength)
        try k.encode(ropeFreqBase, forKey: .ropeFreqBase)
        try k.encode(rmsNormEps, forKey: .rmsNormEps)
        try k.encode(tiedEmbeddings, forKey: .tiedEmbeddings)
        try k.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
        if architecture != .llama { try k.encode(architecture, forKey: .architecture) }
        try k.encodeIfPresent(storedHeadDim, forKey: .headDim)
        if ropeStyle != .interleaved { try k.encode(ropeStyle, forKey: .ropeStyle) }
        if attentionBias { try k.encode(attentionBias, forKey: .attentionBias) }
        if qkNorm { try k.encode(qkNorm, forKey: .qkNorm) }
        try k.encodeIfPresent(slidingWindow, forKey: .slidingWindow)
        try k.encodeIfPresent(slidingWindowPattern, forKey: .slidingWindowPattern)
        try k.encodeIfPresent(ropeLocalBase, forKey: .ropeLocalBase)
        if embeddingScale != 1 { try k.encode(embeddingScale, forKey: .embeddingScale) }
        if postNorms { try k.encode(postNorms, forKey: .postNorms) }
        if activation != .silu { try k.encode(activation, forKey: .activation) }
        try k.encodeIfPresent(queryScale, forKey: .queryScale)
    }
}
