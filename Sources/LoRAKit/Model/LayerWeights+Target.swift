extension LayerWeights {
    /// The frozen projection a LoRA target adapts.
    public func matrix(_ t: LoRATarget) -> QuantizedMatrix {
        switch t {
        case .q_proj: return q
        case .k_proj: return k
        case .v_proj: return v
        case .o_proj: return o
        case .gate_proj: return gate
        case .up_proj: return up
        case .down_proj: return down
        }
    }
}
