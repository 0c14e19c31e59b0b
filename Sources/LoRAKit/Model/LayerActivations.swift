/// Buffers one decoder layer writes in its forward pass (and the training graph keeps for backward), for a pass
/// of `rows` tokens. With per-layer checkpointing there is one set, refilled by recomputing each layer in backward;
/// the generation decoder has one set for a prefill chunk.
struct LayerBuffers<F> {
    let xn1: F     // [T, C]  attention RMSNorm output (input of q/k/v)
    let rstd1: F   // [T]
    let q: F       // [T, Hq·hd]  after RoPE
    let qPre: F    // [T, Hq·hd]  q_proj output before the per-head norm (qkNorm only, else empty)
    let kPre: F    // [T, kv]     k_proj output before the per-head norm (qkNorm only, else empty)
    let rstdQ: F   // [T·Hq]      per-head norm statistics (qkNorm only)
    let rstdK: F   // [T·Hkv]
    let k: F       // [T, kv] after RoPE (empty when K/V go to a cache)
    let v: F       // [T, kv]        (empty when K/V go to a cache)
    let att: F     // [T, Hq·hd]  attention output (input of o_proj)
    let lse: F     // [B, Hq, S]  log-sum-exp per query (empty when not training)
    let x2: F      // [T, C]  residual after attention
    let xn2: F     // [T, C]  MLP RMSNorm output (input of gate/up)
    let rstd2: F   // [T]
    let g: F       // [T, F]  gate projection
    let u: F       // [T, F]  up projection
    let h: F       // [T, F]  silu(g)·u or gelu_tanh(g)·u (input of down_proj)
    /// Post-norm layers (Gemma 3; empty otherwise): o_proj and down_proj outputs before their RMSNorm, and its rstd.
    let attnOut: F, ffnOut: F          // [T, C]
    let rstdPostAttn: F, rstdPostFFN: F // [T]
    /// x·Aᵀ of each adapted projection, [T, r].
    let loraU: [LoRATarget: F]
    /// DoRA: each projection's output before the row scaling, [T, out] (training only).
    let doraZ: [LoRATarget: F]

    /// - Parameters:
    ///   - B, S: the pass's rows as B sequences of S tokens (T = B·S).
    ///   - ownKV: K and V rows live in this set (training graph); false when they go to a KV cache (decoder).
    ///   - keepsLSE: the attention's log-sum-exp is saved (for backward).
    ///   - keepsDoRA: DoRA projections keep their unscaled outputs (for backward).
    init<I>(B: Int, S: Int, config c: LlamaConfig, lora: LoRAConfig?, ownKV: Bool = true, keepsLSE: Bool = true,
            keepsDoRA: Bool = true, _ b: inout BufferBuilder<F, I>) {
        let T = B * S, C = c.embeddingLength, kv = ownKV ? c.kvDim : 0, F = c.feedForwardLength
        let qd = c.headCount * c.headDim
        xn1 = b.float("xn1", T * C, .activations); rstd1 = b.float("rstd1", T, .activations)
        q = b.float("q", T * qd, .activations); k = b.float("k", T * kv, .activations); v = b.float("v", T * kv, .activations)
        att = b.float("att", T * qd, .activations)
        let qkn = c.qkNorm ? 1 : 0
        qPre = b.float("q_pre", qkn * T * qd, .activations); kPre = b.float("k_pre", qkn * T * c.kvDim, .activations)
        rstdQ = b.float("rstd_q", qkn * T * c.headCount, .activations)
        rstdK = b.float("rstd_k", qkn * T * c.headCountKV, .activations)
        lse = b.float("lse", keepsLSE ? B * c.headCount * S : 0, .activations)
        x2 = b.float("x2", T * C, .activations); xn2 = b.float("xn2", T * C, .activations)
        rstd2 = b.float("rstd2", T, .activations)
        g = b.float("g", T * F, .activations); u = b.float("u", T * F, .activations); h = b.float("h", T * F, .activations)
        let post = c.postNorms ? T : 0
        attnOut = b.float("attn_out", post * C, .activations); ffnOut = b.float("ffn_out", post * C, .activations)
        rstdPostAttn = b.float("rstd_post_attn", post, .activations); rstdPostFFN = b.float("rstd_post_ffn", post, .activations)
        var lu: [LoRATarget: F] = [:]
        if let lora { for t in lora.targets { lu[t] = b.float("lora_u.\(t.rawValue)", T * lora.rank, .activations) } }
        loraU = lu
        var dz: [LoRATarget: F] = [:]
        if let lora, lora.useDoRA, keepsDoRA {
            for t in lora.targets { dz[t] = b.float("dora_z.\(t.rawValue)", T * t.shape(c).out, .activations) }
        }
        doraZ = dz
    }
}

/// One layer's activations in memory.
typealias LayerActivations = LayerBuffers<FloatBuffer>

extension LayerBuffers where F == FloatBuffer {
    /// Floats held by one training set of B·S = T rows (the memory plan's per-layer figure).
    static func floats(T: Int, B: Int, S: Int, config c: LlamaConfig, lora: LoRAConfig?) -> Int {
        var b = BufferBuilder.planning()
        _ = LayerBuffers<Void>(B: B, S: S, config: c, lora: lora, &b)
        return b.specs.reduce(0) { $0 + $1.count }
    }
}
