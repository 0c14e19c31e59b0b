extension LlamaConfig {
    /// The transformers class and `model_type` of this model (Mistral: a Llama config with a sliding window).
    var hfArchitecture: (className: String, modelType: String) {
        switch architecture {
        case .llama: return slidingWindow == nil ? ("LlamaForCausalLM", "llama") : ("MistralForCausalLM", "mistral")
        case .qwen2: return ("Qwen2ForCausalLM", "qwen2")
        case .qwen3: return ("Qwen3ForCausalLM", "qwen3")
        case .gemma3: return ("Gemma3ForCausalLM", "gemma3_text")
        }
    }
}

extension LoRAMerge {
    /// The frozen per-layer vectors an HF folder stores next to projection `t` of a layer (`prefix` =
    /// `model.layers.N.self_attn.`): q/k/v biases (rows back in HF order for interleaved-RoPE models), and q/k norms.
    static func hfFrozenVectors(_ lw: LayerWeights, after t: LoRATarget, prefix p: String, model c: LlamaConfig) -> [HFTensor] {
        func bias(_ b: [Float]?, _ name: String, heads: Int?) -> [HFTensor] {
            guard let b else { return [] }
            return [HFTensor(name: p + name, shape: [b.count]) {
                guard let heads else { return b }
                return try QKPermutation.ggufToHF(b, rows: b.count, cols: 1, heads: heads)
            }]
        }
        switch t {
        case .q_proj:
            return bias(lw.qBias, "q_proj.bias", heads: QKPermutation.heads(for: .q_proj, model: c))
                + (lw.qNorm.map { n in [HFTensor(name: p + "q_norm.weight", shape: [n.count]) { n }] } ?? [])
        case .k_proj:
            return bias(lw.kBias, "k_proj.bias", heads: QKPermutation.heads(for: .k_proj, model: c))
                + (lw.kNorm.map { n in [HFTensor(name: p + "k_norm.weight", shape: [n.count]) { n }] } ?? [])
        case .v_proj:
            return bias(lw.vBias, "v_proj.bias", heads: nil)
        default:
            return []
        }
    }
}
