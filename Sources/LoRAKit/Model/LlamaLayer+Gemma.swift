import CKernels

/// The Gemma 3 parts of the decoder layer (`LayerRunner.layerForward` / `LlamaGraph.layerBackward` call them):
/// the embedding scale, the RMSNorms after attention and after the FFN (before each residual add), and the
/// gate nonlinearity (GeGLU for Gemma, SwiGLU otherwise). Forward and backward side by side.
extension LayerRunner {
    /// Multiplies the embedded rows in layerInput(0) by `embeddingScale` (Gemma 3: √C in fp32, as transformers
    /// and llama.cpp compute it). Nothing below layer 0 is trained, so there is no backward.
    func scaleEmbeddings() {
        let c = weights.config, s = c.embeddingScale
        guard s != 1 else { return }
        let x = layerInput(0), n = passRows * c.embeddingLength
        timed("embed") { for i in 0..<n { x[i] *= s } }
    }

    /// Where o_proj (or down_proj) writes: the pre-norm buffer when the layer has post-norms, else `direct`.
    func preNormTarget(_ buffer: FloatBuffer, direct: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        weights.config.postNorms ? buffer.ptr : direct
    }

    /// y = RMSNorm(x)·w ([rows, C]) keeping rstd, when the layer has post-norms (a no-op otherwise).
    func postNormForward(_ w: [FloatBuffer], _ l: Int, x: FloatBuffer, y: UnsafeMutablePointer<Float>, rstd: FloatBuffer) {
        let c = weights.config
        guard c.postNorms else { return }
        timed("rmsnorm fwd") {
            lk_rmsnorm_fwd(pool.raw, y, rstd.ptr, x.ptr, w[l].ptr, Int64(passRows), Int64(c.embeddingLength), c.rmsNormEps)
        }
    }

    /// a.h = act(a.g)·a.u over n elements: SwiGLU or GeGLU (gelu-tanh) by the config.
    func gateForward(_ a: LayerActivations, _ n: Int64) {
        if weights.config.activation == .geluTanh {
            timed("geglu fwd") { lk_geglu_fwd(pool.raw, a.h.ptr, a.g.ptr, a.u.ptr, n) }
        } else {
            timed("swiglu fwd") { lk_swiglu_fwd(pool.raw, a.h.ptr, a.g.ptr, a.u.ptr, n) }
        }
    }
}

extension LlamaGraph {
    /// The gradient that reaches the block's output projection from dy = b.dx (∂loss/∂ of the residual sum): dy
    /// itself without post-norms, else ∂/∂x of RMSNorm(x)·w written to b.dpost.
    func postNormBackward(_ w: [FloatBuffer], _ l: Int, x: FloatBuffer, rstd: FloatBuffer) -> UnsafeMutablePointer<Float> {
        let c = config, b = buffers
        guard c.postNorms else { return b.dx.ptr }
        timed("rmsnorm bwd") {
            lk_rmsnorm_bwd(pool.raw, b.dpost.ptr, b.dx.ptr, x.ptr, w[l].ptr, rstd.ptr, Int64(T), Int64(c.embeddingLength), 0)
        }
        return b.dpost.ptr
    }

    /// b.dg, b.du from b.dh through the gate nonlinearity (SwiGLU or GeGLU).
    func gateBackward(_ a: LayerActivations) {
        let b = buffers, n = Int64(T) * Int64(config.feedForwardLength)
        if config.activation == .geluTanh {
            timed("geglu bwd") { lk_geglu_bwd(pool.raw, b.dg.ptr, b.du.ptr, b.dh.ptr, a.g.ptr, a.u.ptr, n) }
        } else {
            timed("swiglu bwd") { lk_swiglu_bwd(pool.raw, b.dg.ptr, b.du.ptr, b.dh.ptr, a.g.ptr, a.u.ptr, n) }
        }
    }
}
