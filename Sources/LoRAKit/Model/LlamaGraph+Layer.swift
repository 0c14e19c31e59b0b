import CKernels

/// One decoder layer: RMSNorm → q/k/v → RoPE → causal GQA attention → o (+residual) →
/// RMSNorm → gate/up → SwiGLU → down (+residual). Forward and backward side by side.
extension LlamaGraph {
    /// xOut(l) = layer(xIn(l)), saving what backward needs into actsFor(l).
    func layerForward(_ l: Int) {
        let c = config, a = actsFor(l)
        let C = Int64(c.embeddingLength), T64 = Int64(T), hd = Int64(c.headDim)
        let Hq = Int64(c.headCount), Hkv = Int64(c.headCountKV)
        let x = xIn(l).ptr, y = xOut(l).ptr
        timed("rmsnorm fwd") {
            lk_rmsnorm_fwd(pool.raw, a.xn1.ptr, a.rstd1.ptr, x, attnNorms[l].ptr, T64, C, c.rmsNormEps)
        }
        linearForward(.q_proj, layer: l, x: a.xn1.ptr, y: a.q.ptr, u: a.loraU[.q_proj])
        linearForward(.k_proj, layer: l, x: a.xn1.ptr, y: a.k.ptr, u: a.loraU[.k_proj])
        linearForward(.v_proj, layer: l, x: a.xn1.ptr, y: a.v.ptr, u: a.loraU[.v_proj])
        timed("rope fwd") {
            lk_rope_fwd(pool.raw, a.q.ptr, pos.ptr, invFreq.ptr, T64, Hq, hd)
        }
        timed("rope fwd") {
            lk_rope_fwd(pool.raw, a.k.ptr, pos.ptr, invFreq.ptr, T64, Hkv, hd)
        }
        timed("attention fwd") {
            lk_attention_fwd(pool.raw, attScratch.ptr, a.att.ptr, a.lse.ptr, a.q.ptr, a.k.ptr, a.v.ptr, nil,
                             Int64(B), Int64(S), Hq, Hkv, hd, 1 / Float(c.headDim).squareRoot())
        }
        linearForward(.o_proj, layer: l, x: a.att.ptr, y: a.x2.ptr, u: a.loraU[.o_proj])
        timed("residual") {
            lk_axpy(pool.raw, a.x2.ptr, 1, x, T64 * C)                                   // x2 = x + o
        }
        timed("rmsnorm fwd") {
            lk_rmsnorm_fwd(pool.raw, a.xn2.ptr, a.rstd2.ptr, a.x2.ptr, ffnNorms[l].ptr, T64, C, c.rmsNormEps)
        }
        linearForward(.gate_proj, layer: l, x: a.xn2.ptr, y: a.g.ptr, u: a.loraU[.gate_proj])
        linearForward(.up_proj, layer: l, x: a.xn2.ptr, y: a.u.ptr, u: a.loraU[.up_proj])
        timed("swiglu fwd") {
            lk_swiglu_fwd(pool.raw, a.h.ptr, a.g.ptr, a.u.ptr, T64 * Int64(c.feedForwardLength))
        }
        linearForward(.down_proj, layer: l, x: a.h.ptr, y: y, u: a.loraU[.down_proj])
        timed("residual") {
            lk_axpy(pool.raw, y, 1, a.x2.ptr, T64 * C)                                   // y = x2 + mlp
        }
    }

    /// Given dx = ∂loss/∂xOut(l), overwrites dx with ∂loss/∂xIn(l) and accumulates LoRA gradients.
    /// With checkpointing the layer's activations are recomputed first (bitwise the same values).
    func layerBackward(_ l: Int, needInputGrad: Bool = true) {
        if checkpointing { layerForward(l) }
        let c = config, a = actsFor(l)
        let C = Int64(c.embeddingLength), T64 = Int64(T), hd = Int64(c.headDim)
        let Hq = Int64(c.headCount), Hkv = Int64(c.headCountKV), F = Int64(c.feedForwardLength)
        // MLP.
        linearBackward(.down_proj, layer: l, x: a.h.ptr, dy: dx.ptr, dx: dh.ptr, accumulate: false, u: a.loraU[.down_proj])
        timed("swiglu bwd") {
            lk_swiglu_bwd(pool.raw, dg.ptr, du.ptr, dh.ptr, a.g.ptr, a.u.ptr, T64 * F)
        }
        linearBackward(.gate_proj, layer: l, x: a.xn2.ptr, dy: dg.ptr, dx: dxn.ptr, accumulate: false, u: a.loraU[.gate_proj])
        linearBackward(.up_proj, layer: l, x: a.xn2.ptr, dy: du.ptr, dx: dxn.ptr, accumulate: true, u: a.loraU[.up_proj])
        timed("rmsnorm bwd") {
            lk_rmsnorm_bwd(pool.raw, dx.ptr, dxn.ptr, a.x2.ptr, ffnNorms[l].ptr, a.rstd2.ptr, T64, C, 1)   // dx = ∂/∂x2
        }
        // Attention.
        linearBackward(.o_proj, layer: l, x: a.att.ptr, dy: dx.ptr, dx: datt.ptr, accumulate: false, u: a.loraU[.o_proj])
        timed("attention bwd") {
            lk_attention_bwd(pool.raw, attBwdScratch.ptr, dq.ptr, dk.ptr, dv.ptr, datt.ptr, a.att.ptr, a.lse.ptr,
                             a.q.ptr, a.k.ptr, a.v.ptr, nil, Int64(B), Int64(S), Hq, Hkv, hd, 1 / Float(c.headDim).squareRoot())
        }
        timed("rope bwd") {
            lk_rope_bwd(pool.raw, dq.ptr, pos.ptr, invFreq.ptr, T64, Hq, hd)
        }
        timed("rope bwd") {
            lk_rope_bwd(pool.raw, dk.ptr, pos.ptr, invFreq.ptr, T64, Hkv, hd)
        }
        linearBackward(.q_proj, layer: l, x: a.xn1.ptr, dy: dq.ptr, dx: dxn.ptr, accumulate: false, u: a.loraU[.q_proj], needInput: needInputGrad)
        linearBackward(.k_proj, layer: l, x: a.xn1.ptr, dy: dk.ptr, dx: dxn.ptr, accumulate: true, u: a.loraU[.k_proj], needInput: needInputGrad)
        linearBackward(.v_proj, layer: l, x: a.xn1.ptr, dy: dv.ptr, dx: dxn.ptr, accumulate: true, u: a.loraU[.v_proj], needInput: needInputGrad)
        if needInputGrad {
            timed("rmsnorm bwd") {
                lk_rmsnorm_bwd(pool.raw, dx.ptr, dxn.ptr, xIn(l).ptr, attnNorms[l].ptr, a.rstd1.ptr, T64, C, 1)  // dx = ∂/∂x
            }
        }
    }
}
