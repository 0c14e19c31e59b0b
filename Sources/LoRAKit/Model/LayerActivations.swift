/// Buffers one decoder layer saves in its forward pass for its backward pass.
/// With per-layer checkpointing there is one set, refilled by recomputing each layer in backward.
final class LayerActivations {
    let xn1: FloatBuffer   // [T, C]  attention RMSNorm output (input of q/k/v)
    let rstd1: FloatBuffer // [T]
    let q: FloatBuffer     // [T, C]  after RoPE
    let k: FloatBuffer     // [T, kv] after RoPE
    let v: FloatBuffer     // [T, kv]
    let att: FloatBuffer   // [T, C]  attention output (input of o_proj)
    let lse: FloatBuffer   // [B, Hq, S]
    let x2: FloatBuffer    // [T, C]  residual after attention
    let xn2: FloatBuffer   // [T, C]  MLP RMSNorm output (input of gate/up)
    let rstd2: FloatBuffer // [T]
    let g: FloatBuffer     // [T, F]  gate projection
    let u: FloatBuffer     // [T, F]  up projection
    let h: FloatBuffer     // [T, F]  silu(g)·u (input of down_proj)
    /// x·Aᵀ of each adapted projection, [T, r].
    let loraU: [LoRATarget: FloatBuffer]

    init(T: Int, B: Int, S: Int, config c: LlamaConfig, lora: LoRAConfig?) {
        let C = c.embeddingLength, kv = c.kvDim, F = c.feedForwardLength
        xn1 = FloatBuffer(T * C); rstd1 = FloatBuffer(T)
        q = FloatBuffer(T * C); k = FloatBuffer(T * kv); v = FloatBuffer(T * kv)
        att = FloatBuffer(T * C); lse = FloatBuffer(B * c.headCount * S)
        x2 = FloatBuffer(T * C); xn2 = FloatBuffer(T * C); rstd2 = FloatBuffer(T)
        g = FloatBuffer(T * F); u = FloatBuffer(T * F); h = FloatBuffer(T * F)
        var lu: [LoRATarget: FloatBuffer] = [:]
        if let lora { for t in lora.targets { lu[t] = FloatBuffer(T * lora.rank) } }
        loraU = lu
    }

    /// Floats held by one set, for the memory plan.
    static func floats(T: Int, B: Int, S: Int, config c: LlamaConfig, lora: LoRAConfig?) -> Int {
        let C = c.embeddingLength, kv = c.kvDim, F = c.feedForwardLength
        let r = lora.map { $0.rank * $0.targets.count } ?? 0
        return T * (5 * C + 2 * kv + 3 * F + 2 + r) + B * c.headCount * S
    }
}
