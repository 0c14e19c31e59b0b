import Foundation

/// Gemma 3 in GGUF: what the `gemma3.*` keys give beyond the common ones, and what llama.cpp hard-codes
/// (src/models/gemma3.cpp, which this follows): NEOX RoPE on unpermuted q/k rows, per-head q/k RMSNorm,
/// RMSNorms after attention and after the FFN, GeGLU (gelu-tanh), embeddings × √C, and — when
/// `attention.sliding_window` is set — local layers with that window and RoPE base `rope.freq_base_swa`
/// (10000 when absent) interleaved with global layers every `attention.sliding_window_pattern` layers (6 when
/// absent: layers 5, 11, … are global). Queries are scaled by 1/√head_dim (by 1/√(C/heads) for the 62-layer
/// 27B, whose query_pre_attn_scalar is C/heads). The converter stores the RMSNorm weights as 1 + w, so the
/// stored values are used as they are.
extension LlamaConfig {
    /// The pattern, local RoPE base and other fixed Gemma 3 facts, read from (or defaulted for) GGUF metadata `md`.
    mutating func applyGemma3(metadata md: [String: GGUFValue], path: String) throws {
        let pre = "gemma3."
        setGemma3Architecture()
        queryScale = blockCount == 62 ? 1 / Float(embeddingLength / headCount).squareRoot() : nil
        if let v = md[pre + "final_logit_softcapping"], let cap = v.float, cap != 0 {
            throw FormatError.unsupported(path: path, message: "\(pre)final_logit_softcapping \(cap): logit soft-capping is not implemented")
        }
        guard slidingWindow != nil else { return }
        slidingWindowPattern = 6
        if let v = md[pre + "attention.sliding_window_pattern"] {
            if let p = v.int, p >= 0 {
                slidingWindowPattern = p
            } else if let flags = v.array?.map(\.bool), !flags.contains(nil) {
                slidingWindowPattern = try Self.periodicPattern(flags.map { $0! }, blockCount: blockCount, path: path)
            } else {
                throw FormatError.invalidValue(path: path, field: pre + "attention.sliding_window_pattern", offset: 0,
                                               message: "\(v) is neither a layer count nor a list of per-layer flags")
            }
        }
        if let v = md[pre + "rope.freq_base_swa"] {
            guard let b = v.float, b.isFinite, b > 0 else {
                throw FormatError.invalidValue(path: path, field: pre + "rope.freq_base_swa", offset: 0, message: "\(v) is not a positive number")
            }
            ropeLocalBase = Float(b)
        } else {
            ropeLocalBase = 10000
        }
    }

    /// What every Gemma 3 has: NEOX RoPE, q/k norms, post-norms, GeGLU, embeddings × √C.
    mutating func setGemma3Architecture() {
        architecture = .gemma3
        ropeStyle = .neox
        qkNorm = true
        postNorms = true
        activation = .geluTanh
        embeddingScale = Float(embeddingLength).squareRoot()
    }

    /// A Gemma 3 text model as its published config states it (head_dim 256 = query_pre_attn_scalar, vocabulary
    /// 262,144, RoPE bases 1e6 global / 1e4 local, a global layer every 6, RMSNorm eps 1e-6, tied head). The
    /// 4B and 12B configs also scale the global layers' RoPE positions linearly by 8, which this does not model
    /// (it matters beyond 32k tokens, not for sizing a run).
    static func gemma3(blockCount: Int, embeddingLength: Int, feedForwardLength: Int, headCount: Int, headCountKV: Int,
                       contextLength: Int, slidingWindow: Int) -> LlamaConfig {
        var c = LlamaConfig(blockCount: blockCount, embeddingLength: embeddingLength, feedForwardLength: feedForwardLength,
                            headCount: headCount, headCountKV: headCountKV, vocabSize: 262_144, contextLength: contextLength,
                            ropeFreqBase: 1_000_000, rmsNormEps: 1e-6, tiedEmbeddings: true, architecture: .gemma3, headDim: 256)
        c.setGemma3Architecture()
        c.slidingWindow = slidingWindow
        c.slidingWindowPattern = 6
        c.ropeLocalBase = 10000
        return c
    }

    /// The period p of per-layer "is windowed" flags of the form (layer + 1) % p != 0 (p = 0: every layer windowed).
    static func periodicPattern(_ flags: [Bool], blockCount: Int, path: String) throws -> Int {
        guard flags.count == blockCount else {
            throw FormatError.invalidValue(path: path, field: "gemma3.attention.sliding_window_pattern", offset: 0,
                                           message: "\(flags.count) per-layer flags for \(blockCount) layers")
        }
        let p = (flags.firstIndex(of: false) ?? -1) + 1
        guard flags.indices.allSatisfy({ flags[$0] == (p == 0 || ($0 + 1) % p != 0) }) else {
            throw FormatError.unsupported(path: path, message: "gemma3.attention.sliding_window_pattern: only patterns with a "
                                          + "global layer every p layers are supported")
        }
        return p
    }
}
