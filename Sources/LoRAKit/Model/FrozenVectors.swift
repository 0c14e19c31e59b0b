import CKernels

/// The frozen small tensors a forward pass reads every layer, copied out of the model file once: RMSNorm weights
/// and the RoPE inverse frequencies. Shared by the training graph and the generation decoder.
struct FrozenVectors<F> {
    let attnNorms: [F], ffnNorms: [F]   // per layer [C]
    let outputNorm: F                   // [C]
    let invFreq: F                      // [hd/2]

    init<I>(config c: LlamaConfig, _ b: inout BufferBuilder<F, I>) {
        let C = c.embeddingLength
        attnNorms = (0..<c.blockCount).map { _ in b.float("attn_norm", C, .smallTensors) }
        ffnNorms = (0..<c.blockCount).map { _ in b.float("ffn_norm", C, .smallTensors) }
        outputNorm = b.float("output_norm", C, .smallTensors)
        invFreq = b.float("inv_freq", c.headDim / 2, .smallTensors)
    }
}

extension FrozenVectors where F == FloatBuffer {
    /// Fills the buffers from `weights`.
    func load(_ weights: ModelWeights) {
        let c = weights.config, hd = Int64(c.headDim)
        for (l, w) in weights.layers.enumerated() {
            attnNorms[l].copy(from: w.attnNorm)
            ffnNorms[l].copy(from: w.ffnNorm)
        }
        outputNorm.copy(from: weights.outputNorm)
        if let ff = weights.ropeFreqFactors {
            ff.withUnsafeBufferPointer { lk_rope_inv_freq(invFreq.ptr, hd, c.ropeFreqBase, $0.baseAddress) }
        } else {
            lk_rope_inv_freq(invFreq.ptr, hd, c.ropeFreqBase, nil)
        }
    }
}
