import CKernels

/// The frozen small tensors a forward pass reads every layer, copied out of the model file once: RMSNorm weights,
/// the architecture's optional per-layer vectors (q/k/v biases, per-head q/k norms, post-norms) and the RoPE
/// inverse frequencies (one table per distinct RoPE base). Shared by the training graph and the generation decoder.
struct FrozenVectors<F> {
    let attnNorms: [F], ffnNorms: [F]   // per layer [C]
    let outputNorm: F                   // [C]
    /// Per layer when `attentionBias` (else empty): [Hq·hd], [kv], [kv].
    let qBiases: [F], kBiases: [F], vBiases: [F]
    /// Per layer when `qkNorm` (else empty): [hd].
    let qNorms: [F], kNorms: [F]
    /// Per layer when `postNorms` (else empty): [C].
    let postAttentionNorms: [F], postFFNNorms: [F]
    /// One table per distinct RoPE base, in `ropeBases` order. [hd/2] each
    let invFreqs: [F]
    /// The distinct RoPE bases of the layers (first use first) and each layer's index into them.
    let ropeBases: [Float]
    private let ropeIndex: [Int]

    init<I>(config c: LlamaConfig, _ b: inout BufferBuilder<F, I>) {
        let C = c.embeddingLength, L = c.blockCount
        attnNorms = (0..<L).map { _ in b.float("attn_norm", C, .smallTensors) }
        ffnNorms = (0..<L).map { _ in b.float("ffn_norm", C, .smallTensors) }
        outputNorm = b.float("output_norm", C, .smallTensors)
        var bases: [Float] = [], index: [Int] = []
        for l in 0..<L {
            let base = c.ropeBase(layer: l)
            if let i = bases.firstIndex(of: base) { index.append(i) } else { index.append(bases.count); bases.append(base) }
        }
        if bases.isEmpty { bases = [c.ropeFreqBase] }
        ropeBases = bases
        ropeIndex = index
        invFreqs = bases.indices.map { i in b.float(i == 0 ? "inv_freq" : "inv_freq\(i)", c.headDim / 2, .smallTensors) }
        let bias = c.attentionBias ? L : 0, qkn = c.qkNorm ? L : 0, post = c.postNorms ? L : 0
        qBiases = (0..<bias).map { _ in b.float("q_bias", c.qDim, .smallTensors) }
        kBiases = (0..<bias).map { _ in b.float("k_bias", c.kvDim, .smallTensors) }
        vBiases = (0..<bias).map { _ in b.float("v_bias", c.kvDim, .smallTensors) }
        qNorms = (0..<qkn).map { _ in b.float("q_norm", c.headDim, .smallTensors) }
        kNorms = (0..<qkn).map { _ in b.float("k_norm", c.headDim, .smallTensors) }
        postAttentionNorms = (0..<post).map { _ in b.float("post_attention_norm", C, .smallTensors) }
        postFFNNorms = (0..<post).map { _ in b.float("post_ffw_norm", C, .smallTensors) }
    }

    /// The RoPE inverse frequencies of layer `l`.
    func invFreq(_ l: Int) -> F { invFreqs[ropeIndex.isEmpty ? 0 : ropeIndex[l]] }
}

extension FrozenVectors where F == FloatBuffer {
    /// Fills the buffers from `weights` (whose layers carry every optional vector the config asks for; the
    /// loaders check that).
    func load(_ weights: ModelWeights) {
        let c = weights.config, hd = Int64(c.headDim)
        for (l, w) in weights.layers.enumerated() {
            attnNorms[l].copy(from: w.attnNorm)
            ffnNorms[l].copy(from: w.ffnNorm)
            if l < qBiases.count {
                qBiases[l].copy(from: w.qBias!); kBiases[l].copy(from: w.kBias!); vBiases[l].copy(from: w.vBias!)
            }
            if l < qNorms.count { qNorms[l].copy(from: w.qNorm!); kNorms[l].copy(from: w.kNorm!) }
            if l < postAttentionNorms.count {
                postAttentionNorms[l].copy(from: w.postAttentionNorm!); postFFNNorms[l].copy(from: w.postFFNNorm!)
            }
        }
        outputNorm.copy(from: weights.outputNorm)
        for (inv, base) in zip(invFreqs, ropeBases) {
            if let ff = weights.ropeFreqFactors {
                ff.withUnsafeBufferPointer { lk_rope_inv_freq(inv.ptr, hd, base, $0.baseAddress) }
            } else {
                lk_rope_inv_freq(inv.ptr, hd, base, nil)
            }
        }
    }
}
