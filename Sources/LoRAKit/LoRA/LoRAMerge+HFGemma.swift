import Foundation

/// What a Gemma 3 merge to a Hugging Face folder writes differently from Llama: transformers' Gemma3RMSNorm
/// multiplies by (1 + w) and the GGUF holds 1 + w, so every norm weight is written as stored − 1; the norms are
/// `input_layernorm`, `post_attention_layernorm` (after attention), `pre_feedforward_layernorm` (the GGUF
/// `ffn_norm`) and `post_feedforward_layernorm`, plus `self_attn.q_norm` / `k_norm` and `model.norm`; and the
/// config is a `gemma3_text` one (GeGLU, query_pre_attn_scalar, sliding window and layer types, both RoPE bases).
extension LoRAMerge {
    /// The Llama tensor list rewritten for Gemma 3 (names and norm values).
    static func gemma3HFTensors(_ tensors: [HFTensor], model: ModelWeights) -> [HFTensor] {
        let c = model.config
        var out: [HFTensor] = []
        for var t in tensors {
            if t.name.hasSuffix("post_attention_layernorm.weight") {
                // The Llama writer puts ffn_norm here; Gemma calls it pre_feedforward_layernorm.
                t.name = t.name.replacingOccurrences(of: "post_attention_layernorm", with: "pre_feedforward_layernorm")
            }
            if t.name.hasSuffix("norm.weight") {
                let values = t.values
                t.values = { try values().map { $0 - 1 } }
            }
            out.append(t)
            if t.name.hasSuffix("pre_feedforward_layernorm.weight"), let l = layerIndex(t.name) {
                let lw = model.layers[l], p = "model.layers.\(l)."
                if let n = lw.postAttentionNorm {
                    out.append(HFTensor(name: p + "post_attention_layernorm.weight", shape: [c.embeddingLength]) { n.map { $0 - 1 } })
                }
                if let n = lw.postFFNNorm {
                    out.append(HFTensor(name: p + "post_feedforward_layernorm.weight", shape: [c.embeddingLength]) { n.map { $0 - 1 } })
                }
            }
        }
        return out
    }

    /// N of a `model.layers.N.…` tensor name.
    static func layerIndex(_ name: String) -> Int? {
        let parts = name.split(separator: ".")
        guard parts.count > 2, parts[0] == "model", parts[1] == "layers" else { return nil }
        return Int(parts[2])
    }

    /// The Gemma3TextConfig keys beyond the common ones.
    static func gemma3HFConfig(_ c: LlamaConfig) -> [String: Any] {
        let types = (0..<c.blockCount).map { c.attentionWindow(layer: $0) == nil ? "full_attention" : "sliding_attention" }
        var d: [String: Any] = [
            "hidden_activation": "gelu_pytorch_tanh", "layer_types": types,
            "query_pre_attn_scalar": c.queryScale.map { Double((1 / ($0 * $0)).rounded()) } ?? Double(c.headDim),
            "rope_local_base_freq": Double(c.ropeLocalBase ?? c.ropeFreqBase),
            "rope_parameters": [
                "full_attention": ["rope_type": "default", "rope_theta": Double(c.ropeFreqBase)],
                "sliding_attention": ["rope_type": "default", "rope_theta": Double(c.ropeLocalBase ?? c.ropeFreqBase)],
            ],
            "final_logit_softcapping": NSNull(), "attn_logit_softcapping": NSNull(),
        ]
        d["sliding_window"] = c.slidingWindow ?? c.contextLength
        if let p = c.slidingWindowPattern { d["sliding_window_pattern"] = p }
        return d
    }
}
