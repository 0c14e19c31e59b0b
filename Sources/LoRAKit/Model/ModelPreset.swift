/// Architectures of well-known Llama-family, Qwen and Mistral models, for sizing a run (`lorakit budget --preset`)
/// and for synthesizing test models, without any weights.
public enum ModelPreset: String, CaseIterable, Codable, Sendable {
    case llama31_8b = "llama-3.1-8b"
    case llama32_1b = "llama-3.2-1b"
    case llama32_3b = "llama-3.2-3b"
    case smollm2_135m = "smollm2-135m"
    case qwen25_7b = "qwen2.5-7b"
    case qwen3_8b = "qwen3-8b"
    case mistral_7b = "mistral-7b"
    case gemma3_270m = "gemma3-270m"
    case gemma3_1b = "gemma3-1b"
    case gemma3_4b = "gemma3-4b"
    case gemma3_12b = "gemma3-12b"

    /// The architecture as the model's published config states it.
    public var config: LlamaConfig {
        let llama3Scaling = { (f: Float) in
            RopeScaling(factor: f, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 8192)
        }
        switch self {
        case .llama31_8b:
            return LlamaConfig(blockCount: 32, embeddingLength: 4096, feedForwardLength: 14336, headCount: 32, headCountKV: 8,
                               vocabSize: 128_256, contextLength: 131_072, ropeFreqBase: 500_000, rmsNormEps: 1e-5,
                               tiedEmbeddings: false, ropeScaling: llama3Scaling(8))
        case .llama32_1b:
            return LlamaConfig(blockCount: 16, embeddingLength: 2048, feedForwardLength: 8192, headCount: 32, headCountKV: 8,
                               vocabSize: 128_256, contextLength: 131_072, ropeFreqBase: 500_000, rmsNormEps: 1e-5,
                               tiedEmbeddings: true, ropeScaling: llama3Scaling(32))
        case .llama32_3b:
            return LlamaConfig(blockCount: 28, embeddingLength: 3072, feedForwardLength: 8192, headCount: 24, headCountKV: 8,
                               vocabSize: 128_256, contextLength: 131_072, ropeFreqBase: 500_000, rmsNormEps: 1e-5,
                               tiedEmbeddings: true, ropeScaling: llama3Scaling(32))
        case .smollm2_135m:
            return LlamaConfig(blockCount: 30, embeddingLength: 576, feedForwardLength: 1536, headCount: 9, headCountKV: 3,
                               vocabSize: 49_152, contextLength: 8192, ropeFreqBase: 100_000, rmsNormEps: 1e-5,
                               tiedEmbeddings: true)
        // Qwen/Qwen2.5-7B-Instruct config.json (7,615,616,512 parameters, the same count as the tensor infos of
        // DeepSeek-R1-Distill-Qwen-7B, which shares the architecture).
        case .qwen25_7b:
            return Self.with(LlamaConfig(blockCount: 28, embeddingLength: 3584, feedForwardLength: 18944, headCount: 28,
                                         headCountKV: 4, vocabSize: 152_064, contextLength: 32768, ropeFreqBase: 1_000_000,
                                         rmsNormEps: 1e-6, tiedEmbeddings: false, architecture: .qwen2))
        // Qwen/Qwen3-8B config.json (head_dim 128; 8,190,735,360 parameters).
        case .qwen3_8b:
            return Self.with(LlamaConfig(blockCount: 36, embeddingLength: 4096, feedForwardLength: 12288, headCount: 32,
                                         headCountKV: 8, vocabSize: 151_936, contextLength: 40960, ropeFreqBase: 1_000_000,
                                         rmsNormEps: 1e-6, tiedEmbeddings: false, architecture: .qwen3, headDim: 128))
        // mistralai/Mistral-7B-Instruct-v0.3 config.json (no sliding window; 7,248,023,552 parameters).
        case .mistral_7b:
            return LlamaConfig(blockCount: 32, embeddingLength: 4096, feedForwardLength: 14336, headCount: 32, headCountKV: 8,
                               vocabSize: 32768, contextLength: 32768, ropeFreqBase: 1_000_000, rmsNormEps: 1e-5,
                               tiedEmbeddings: false)
        case .gemma3_270m:
            return .gemma3(blockCount: 18, embeddingLength: 640, feedForwardLength: 2048, headCount: 4, headCountKV: 1,
                           contextLength: 32768, slidingWindow: 512)
        case .gemma3_1b:
            return .gemma3(blockCount: 26, embeddingLength: 1152, feedForwardLength: 6912, headCount: 4, headCountKV: 1,
                           contextLength: 32768, slidingWindow: 512)
        case .gemma3_4b:
            return .gemma3(blockCount: 34, embeddingLength: 2560, feedForwardLength: 10240, headCount: 8, headCountKV: 4,
                           contextLength: 131_072, slidingWindow: 1024)
        case .gemma3_12b:
            return .gemma3(blockCount: 48, embeddingLength: 3840, feedForwardLength: 15360, headCount: 16, headCountKV: 8,
                           contextLength: 131_072, slidingWindow: 1024)
        }
    }

    /// `c` with its architecture's fixed fields (biases, q/k norms, RoPE pairing).
    private static func with(_ c: LlamaConfig) -> LlamaConfig {
        var c = c
        c.applyArchitectureDefaults()
        return c
    }

    /// Parses a preset name; the error lists the known ones.
    public static func named(_ name: String) throws -> ModelPreset {
        guard let p = ModelPreset(rawValue: name.lowercased()) else { throw PresetError.unknown(name) }
        return p
    }
}

/// An unknown preset name.
public enum PresetError: Error, CustomStringConvertible, Equatable {
    case unknown(String)
    public var description: String {
        if case .unknown(let n) = self {
            return "unknown model preset '\(n)'; known: \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", "))"
        }
        return ""
    }
}
