import CKernels

/// The per-architecture steps of the decoder layer (`LayerRunner.layerForward`, `LlamaGraph.layerBackward`), kept
/// apart from the Llama path: q/k/v biases (Qwen2), per-head q/k RMSNorm (Qwen3), RoPE pairing (NEOX for Qwen) and
/// the sliding-window first keys (Mistral). With a Llama config every helper is the Llama operation itself.
extension LayerRunner {
    /// Where q_proj and k_proj write: the RoPE inputs a.q / k, or pre-norm buffers when q and k are RMS-normalized
    /// per head (`qkNorm`) and `attentionInputs` normalizes them into a.q / k.
    func projectionTargets(_ a: LayerActivations, k: UnsafeMutablePointer<Float>)
        -> (q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>) {
        weights.config.qkNorm ? (a.qPre.ptr, a.kPre.ptr) : (a.q.ptr, k)
    }

    /// After the projections: adds the frozen q/k/v biases and RMS-normalizes q and k per head into a.q / k.
    func attentionInputs(_ l: Int, _ a: LayerActivations, q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>,
                         kOut: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
        let c = weights.config, fz = frozen, n = passRows
        if c.attentionBias {
            timed("bias") {
                addRowBias(q, fz.qBiases[l].ptr, rows: n, width: c.qDim)
                addRowBias(k, fz.kBiases[l].ptr, rows: n, width: c.kvDim)
                addRowBias(v, fz.vBiases[l].ptr, rows: n, width: c.kvDim)
            }
        }
        if c.qkNorm {
            let hd = Int64(c.headDim), n64 = Int64(n)
            timed("qk norm fwd") {
                lk_rmsnorm_fwd(pool.raw, a.q.ptr, a.rstdQ.ptr, q, fz.qNorms[l].ptr, n64 * Int64(c.headCount), hd, c.rmsNormEps)
                lk_rmsnorm_fwd(pool.raw, kOut, a.rstdK.ptr, k, fz.kNorms[l].ptr, n64 * Int64(c.headCountKV), hd, c.rmsNormEps)
            }
        }
    }

    /// RoPE in place on x [rows, H·hd] at the pass's positions with layer l's frequencies, in the model's pairing.
    func ropeForward(_ l: Int, _ x: UnsafeMutablePointer<Float>, heads: Int) {
        let c = weights.config, n = Int64(passRows), hd = Int64(c.headDim), inv = frozen.invFreq(l).ptr
        timed("rope fwd") {
            switch c.ropeStyle {
            case .interleaved: lk_rope_fwd(pool.raw, x, passPositions, inv, n, Int64(heads), hd)
            case .neox: lk_rope_neox_fwd(pool.raw, x, passPositions, inv, n, Int64(heads), hd)
            }
        }
    }

    /// y[t, :] += bias for each of `rows` rows of `width`.
    private func addRowBias(_ y: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, width: Int) {
        for t in 0..<rows { lk_axpy(nil, y + t * width, 1, bias, Int64(width)) }
    }
}

extension LlamaGraph {
    /// Backward of RoPE in place on dx [T, H·hd] (the model's pairing, layer l's frequencies).
    func ropeBackward(_ l: Int, _ dx: UnsafeMutablePointer<Float>, heads: Int) {
        let c = config, T64 = Int64(T), hd = Int64(c.headDim), inv = frozen.invFreq(l).ptr
        timed("rope bwd") {
            switch c.ropeStyle {
            case .interleaved: lk_rope_bwd(pool.raw, dx, buffers.pos.ptr, inv, T64, Int64(heads), hd)
            case .neox: lk_rope_neox_bwd(pool.raw, dx, buffers.pos.ptr, inv, T64, Int64(heads), hd)
            }
        }
    }

    /// Given ∂loss/∂q and ∂loss/∂k after the per-head norms (dq, dk), the gradients q_proj and k_proj receive:
    /// through the norms when `qkNorm` (the norm weights are frozen: no weight gradient), else dq and dk themselves.
    /// Biases are constants added after the projections: their backward passes the gradient through unchanged.
    func attentionInputsBackward(_ l: Int, _ a: LayerActivations)
        -> (dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>) {
        let c = config, b = buffers
        guard c.qkNorm else { return (b.dq.ptr, b.dk.ptr) }
        let hd = Int64(c.headDim), T64 = Int64(T)
        timed("qk norm bwd") {
            lk_rmsnorm_bwd(pool.raw, b.dqPre.ptr, b.dq.ptr, a.qPre.ptr, frozen.qNorms[l].ptr, a.rstdQ.ptr,
                           T64 * Int64(c.headCount), hd, 0)
            lk_rmsnorm_bwd(pool.raw, b.dkPre.ptr, b.dk.ptr, a.kPre.ptr, frozen.kNorms[l].ptr, a.rstdK.ptr,
                           T64 * Int64(c.headCountKV), hd, 0)
        }
        return (b.dqPre.ptr, b.dkPre.ptr)
    }

    /// First keys of layer l's attention: the segment starts, bounded by the layer's sliding window when it has one.
    func attentionFirstKeys(_ l: Int) -> UnsafePointer<Int32>? {
        config.attentionWindow(layer: l) == nil ? firstKeys : UnsafePointer(buffers.windowFirstKey.ptr)
    }

    /// Fills the windowed first keys from the segment starts: max(segment start, i − window + 1) (every window the
    /// config uses is the same `slidingWindow`).
    func fillWindowFirstKeys() {
        guard let w = config.slidingWindow else { return }
        let seg = firstKeys, out = buffers.windowFirstKey.ptr
        for t in 0..<T {
            let i = t % S, start = seg.map { Int($0[t]) } ?? 0
            out[t] = Int32(max(start, i - w + 1))
        }
    }
}
