/// Architectures of well-known Llama-family models, for sizing a run (`lorakit budget --preset`)
/// and for synthesizing test models, without any weights.
public enum ModelPreset: String, CaseIterable, Codable, Sendable {
    case llama31_8b = "llama-3.1-8b"
    case llama32_1b = "llama-3.2-1b"
    case llama32_3b = "llama-3.2-3b"
    case smollm2_135m = "smollm2-135m"
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
