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

/// Architecture of a Llama-family model, whichever file it came from.
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

    public init(blockCount: Int, embeddingLength: Int, feedForwardLength: Int, headCount: Int,
                headCountKV: Int, vocabSize: Int, contextLength: Int, ropeFreqBase: Float,
                rmsNormEps: Float, tiedEmbeddings: Bool, ropeScaling: RopeScaling? = nil) {
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
    }

    /// Per-head dimension.
    public var headDim: Int { embeddingLength / max(headCount, 1) }
    /// Output features of k_proj and v_proj (smaller than q_proj under grouped-query attention).
    public var kvDim: Int { headDim * headCountKV }
}
