import CKernels

/// A LoRA factor pair of one (layer, target) in a flat parameter buffer: A [r, in], B [out, r].
struct LoRAFactors {
    let a: UnsafeMutablePointer<Float>
    let b: UnsafeMutablePointer<Float>
    let rank: Int
    let scale: Float
    /// DoRA's magnitude (and, given `rows`, the slot's norms and scales); nil without DoRA.
    let dora: DoRASlotValues?

    /// The factors of (layer, target) in `values` (LoRAParameters layout of `slots`); nil when not adapted.
    init?(_ values: UnsafeMutablePointer<Float>, slots: [LoRASlot], config: LoRAConfig?, layer: Int, target: LoRATarget,
          rows: DoRARows? = nil) {
        guard let config, let s = LoRAParameters.slot(in: slots, config: config, layer: layer, target: target) else { return nil }
        a = values + s.aOffset
        b = values + s.bOffset
        rank = config.rank
        scale = config.scale
        dora = s.magnitudeOffset.map { mo in
            let ro = s.rowOffset ?? 0
            return DoRASlotValues(m: values + mo, norm: rows.map { $0.norm + ro }, scale: rows.map { $0.scale + ro })
        }
    }
}

/// What differs between running the decoder layers for training and evaluation (`LlamaGraph`: B·S rows, K and V
/// in the layer's own buffers, causal attention inside each row's segments) and for generation (`LlamaDecoder`:
/// a chunk of new rows, K and V appended to a cache, attention over everything cached). The layer itself is
/// written once, in the extension below.
protocol LayerRunner: AnyObject {
    var weights: ModelWeights { get }
    var pool: ThreadPool { get }
    var frozen: FrozenVectors<FloatBuffer> { get }
    var profile: OpProfile? { get }
    /// Rows of the current pass.
    var passRows: Int { get }
    /// Token id and RoPE position of each row of the pass. [rows]
    var passIDs: UnsafeMutablePointer<Int32> { get }
    var passPositions: UnsafeMutablePointer<Int32> { get }
    /// Input and output of layer l ([rows, C]) and where it keeps its activations.
    func layerInput(_ l: Int) -> UnsafeMutablePointer<Float>
    func layerOutput(_ l: Int) -> UnsafeMutablePointer<Float>
    func activations(_ l: Int) -> LayerActivations
    /// y[rows, out] = x[rows, in]·W0ᵀ in the runner's arithmetic.
    func frozenProduct(_ W: QuantizedMatrix, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int)
    /// The adapter's factors of (layer, target), nil when not adapted.
    func loraFactors(_ layer: Int, _ t: LoRATarget) -> LoRAFactors?
    /// The input of the LoRA path (x, or a dropped-out copy while training).
    func loraInput(_ x: UnsafeMutablePointer<Float>, count: Int, layer: Int, target: LoRATarget) -> UnsafeMutablePointer<Float>
    /// Where x·Aᵀ goes ([rows, r]; the training graph keeps it for backward).
    func loraU(_ a: LayerActivations, _ t: LoRATarget) -> UnsafeMutablePointer<Float>
    /// The pool for the LoRA products of a pass of `rows` rows (nil: the calling thread).
    func loraPool(rows: Int) -> OpaquePointer?
    /// DoRA's per-row norms and scales of the current adapter (nil without DoRA), and where a DoRA projection keeps
    /// its output before the row scaling ([rows, out]; nil when there is no backward).
    var doraRows: DoRARows? { get }
    func doraSaved(_ a: LayerActivations, _ t: LoRATarget) -> UnsafeMutablePointer<Float>?
    /// Grid-exact quant-aware training's corrections (`QuantGridLoRA`; nil for every other runner).
    var quantGrid: QuantGridLoRA? { get }
    /// Where the pass's K and V rows are written ([rows, kv] each, roped in place).
    func kvRows(_ l: Int, _ a: LayerActivations) -> (k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>)
    /// a.att = attention of a.q over the keys and values the runner holds for layer l.
    func attend(_ l: Int, _ a: LayerActivations)
}

/// One decoder layer, for every runner: RMSNorm → q/k/v → RoPE at each row's position → GQA attention → o
/// (+residual) → RMSNorm → gate/up → SwiGLU → down (+residual). Backward (training only) follows below.
///
/// Where other architectures switch: Qwen2 adds q/k/v biases after the projections and uses NEOX (rotate-half)
/// RoPE (a rope kind next to `lk_rope_fwd`); Qwen3 RMS-normalizes q and k per head before RoPE and has
/// head_dim ≠ C/heads (the buffers already use Hq·hd); Mistral's sliding window is a first-key bound
/// (`lk_attention_fwd`'s first_key = max(segment start, i − window + 1)); Gemma 3 adds post-attention and post-FFN
/// norms before each residual, GeGLU instead of SwiGLU, an embedding scale after `embed` (LlamaLayer+Gemma.swift),
/// and per-layer local/global attention with its own RoPE base (per-layer `invFreq` and first keys).
extension LayerRunner {
    var quantGrid: QuantGridLoRA? { nil }

    /// Runs `body`, adding its wall time to `op` when a profile is attached.
    @inline(__always)
    func timed<R>(_ op: String, _ body: () -> R) -> R {
        guard let p = profile else { return body() }
        let t0 = OpProfile.now()
        let r = body()
        p.add(op, seconds: OpProfile.now() - t0)
        return r
    }

    /// Embeds the pass's ids into layerInput(0) and runs every layer; the last hidden state is in layerOutput(L − 1).
    /// `afterLayer(l)` runs right after layer l, while activations(l) still hold its projections' inputs.
    func embedAndRunLayers(afterLayer: ((Int) -> Void)? = nil) {
        let c = weights.config, E = weights.tokenEmbedding
        timed("embed") {
            E.withUnsafeBytes { e in
                lk_embed_rows(pool.raw, layerInput(0), Int32(E.type.rawValue), e, Int64(E.rowBytes), passIDs,
                              Int64(passRows), Int64(c.embeddingLength))
            }
        }
        scaleEmbeddings()
        for l in 0..<c.blockCount {
            layerForward(l)
            afterLayer?(l)
        }
    }

    /// layerOutput(l) = layer(layerInput(l)), writing its activations into activations(l).
    /// `forBackward`: the checkpointing recompute right before `layerBackward(l)`, which reads the activations but
    /// not the layer's output (already in layerOutput(l), bitwise the same). Unless a post-FFN norm or DoRA on
    /// down_proj needs the down projection's output, its frozen product (an 8B layer's largest after gate/up,
    /// 27% of its products) is then skipped, with the norm and residual after it; only its x·Aᵀ is kept.
    func layerForward(_ l: Int, forBackward: Bool = false) {
        let c = weights.config, a = activations(l), fz = frozen
        let n = Int64(passRows), C = Int64(c.embeddingLength)
        let x = layerInput(l), y = layerOutput(l)
        // Attention block.
        timed("rmsnorm fwd") { lk_rmsnorm_fwd(pool.raw, a.xn1.ptr, a.rstd1.ptr, x, fz.attnNorms[l].ptr, n, C, c.rmsNormEps) }
        let (k, v) = kvRows(l, a), pre = projectionTargets(a, k: k)
        linear(.q_proj, l, x: a.xn1.ptr, y: pre.q, a)
        linear(.k_proj, l, x: a.xn1.ptr, y: pre.k, a)
        linear(.v_proj, l, x: a.xn1.ptr, y: v, a)
        attentionInputs(l, a, q: pre.q, k: pre.k, kOut: k, v: v)                                   // biases, q/k norms
        ropeForward(l, a.q.ptr, heads: c.headCount)
        ropeForward(l, k, heads: c.headCountKV)
        timed("attention fwd") { attend(l, a) }
        linear(.o_proj, l, x: a.att.ptr, y: preNormTarget(a.attnOut, direct: a.x2.ptr), a)
        postNormForward(fz.postAttentionNorms, l, x: a.attnOut, y: a.x2.ptr, rstd: a.rstdPostAttn)
        timed("residual") { lk_axpy(pool.raw, a.x2.ptr, 1, x, n * C) }                              // x2 = x + o
        // MLP block.
        timed("rmsnorm fwd") { lk_rmsnorm_fwd(pool.raw, a.xn2.ptr, a.rstd2.ptr, a.x2.ptr, fz.ffnNorms[l].ptr, n, C, c.rmsNormEps) }
        linear(.gate_proj, l, x: a.xn2.ptr, y: a.g.ptr, a)
        linear(.up_proj, l, x: a.xn2.ptr, y: a.u.ptr, a)
        gateForward(a, n * Int64(c.feedForwardLength))
        let down = loraFactors(l, .down_proj)
        if forBackward && !c.postNorms && down?.dora == nil {
            if let f = down { timed("lora fwd") { _ = loraXA(f, .down_proj, l, x: a.h.ptr, a) } }
            return
        }
        linear(.down_proj, l, x: a.h.ptr, y: preNormTarget(a.ffnOut, direct: y), a)
        postNormForward(fz.postFFNNorms, l, x: a.ffnOut, y: y, rstd: a.rstdPostFFN)
        timed("residual") { lk_axpy(pool.raw, y, 1, a.x2.ptr, n * C) }                              // y = x2 + mlp
    }

    /// y[rows, out] = x[rows, in]·W0ᵀ + s·(drop(x)·Aᵀ)·Bᵀ, keeping x·Aᵀ in `loraU` (backward: `LlamaGraph.linearBackward`);
    /// with DoRA, each output column is then scaled by m/‖W0 + s·B·A‖ (DoRA.swift).
    func linear(_ t: LoRATarget, _ l: Int, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, _ a: LayerActivations) {
        let W = weights.layers[l].matrix(t), rows = passRows
        timed("frozen fwd") { frozenProduct(W, x: x, y: y, rows: rows) }
        guard let f = loraFactors(l, t) else { return }
        let n = Int64(rows), r = Int64(f.rank), out = Int64(W.rows)
        timed("lora fwd") {
            let u = loraXA(f, t, l, x: x, a)
            lk_sgemm(loraPool(rows: rows), 0, 1, n, out, r, f.scale, u, r, f.b, r, 1, y, out)     // y += s·u·Bᵀ
        }
        if let g = quantGrid, let e = g.slot(l, t) { timed("grid fwd") { g.forward(e, x: x, y: y, rows: rows, pool: loraPool(rows: rows)) } }
        if let d = f.dora { timed("dora fwd") { doraForward(d, y: y, rows: rows, out: W.rows, save: doraSaved(a, t)) } }
    }

    /// u = drop(x)·Aᵀ (the adapter's input side) into loraU(a, t) ([rows, r], kept for backward); returns u.
    func loraXA(_ f: LoRAFactors, _ t: LoRATarget, _ l: Int, x: UnsafeMutablePointer<Float>, _ a: LayerActivations)
        -> UnsafeMutablePointer<Float> {
        let W = weights.layers[l].matrix(t), rows = passRows, inF = Int64(W.cols)
        let xd = loraInput(x, count: rows * W.cols, layer: l, target: t), u = loraU(a, t)
        lk_sgemm(loraPool(rows: rows), 0, 1, Int64(rows), Int64(f.rank), inF, 1, xd, inF, f.a, inF, 0, u, Int64(f.rank))
        return u
    }
}

extension LlamaGraph {
    /// Given dx = ∂loss/∂xOut(l), overwrites dx with ∂loss/∂xIn(l) and accumulates LoRA gradients.
    /// With checkpointing the layer's activations are recomputed first (bitwise the same values).
    func layerBackward(_ l: Int, needInputGrad: Bool = true) {
        if checkpointing { layerForward(l, forBackward: true) }
        let c = config, a = activations(l), b = buffers, fz = frozen
        let C = Int64(c.embeddingLength), T64 = Int64(T), hd = Int64(c.headDim)
        let Hq = Int64(c.headCount), Hkv = Int64(c.headCountKV)
        // MLP.
        let dMLP = postNormBackward(fz.postFFNNorms, l, x: a.ffnOut, rstd: a.rstdPostFFN)
        linearBackward(.down_proj, layer: l, x: a.h.ptr, dy: dMLP, dx: b.dh.ptr, accumulate: false, u: a.loraU[.down_proj])
        gateBackward(a)
        linearBackward(.gate_proj, layer: l, x: a.xn2.ptr, dy: b.dg.ptr, dx: b.dxn.ptr, accumulate: false, u: a.loraU[.gate_proj])
        linearBackward(.up_proj, layer: l, x: a.xn2.ptr, dy: b.du.ptr, dx: b.dxn.ptr, accumulate: true, u: a.loraU[.up_proj])
        timed("rmsnorm bwd") {
            lk_rmsnorm_bwd(pool.raw, b.dx.ptr, b.dxn.ptr, a.x2.ptr, fz.ffnNorms[l].ptr, a.rstd2.ptr, T64, C, 1)   // dx = ∂/∂x2
        }
        // Attention.
        let dAttn = postNormBackward(fz.postAttentionNorms, l, x: a.attnOut, rstd: a.rstdPostAttn)
        linearBackward(.o_proj, layer: l, x: a.att.ptr, dy: dAttn, dx: b.datt.ptr, accumulate: false, u: a.loraU[.o_proj])
        timed("attention bwd") {
            let attentionBackward = precision.usesBF16Products ? lk_attention_bwd_bf16 : lk_attention_bwd
            attentionBackward(pool.raw, b.attBwdScratch.ptr, b.dq.ptr, b.dk.ptr, b.dv.ptr, b.datt.ptr, a.att.ptr, a.lse.ptr,
                              a.q.ptr, a.k.ptr, a.v.ptr, attentionFirstKeys(l), Int64(B), Int64(S), Hq, Hkv, hd, attentionScale)
        }
        ropeBackward(l, b.dq.ptr, heads: c.headCount)
        ropeBackward(l, b.dk.ptr, heads: c.headCountKV)
        let d = attentionInputsBackward(l, a)                                                       // through q/k norms
        linearBackward(.q_proj, layer: l, x: a.xn1.ptr, dy: d.dq, dx: b.dxn.ptr, accumulate: false, u: a.loraU[.q_proj], needInput: needInputGrad)
        linearBackward(.k_proj, layer: l, x: a.xn1.ptr, dy: d.dk, dx: b.dxn.ptr, accumulate: true, u: a.loraU[.k_proj], needInput: needInputGrad)
        linearBackward(.v_proj, layer: l, x: a.xn1.ptr, dy: b.dv.ptr, dx: b.dxn.ptr, accumulate: true, u: a.loraU[.v_proj], needInput: needInputGrad)
        if needInputGrad {
            timed("rmsnorm bwd") {
                lk_rmsnorm_bwd(pool.raw, b.dx.ptr, b.dxn.ptr, layerInput(l), fz.attnNorms[l].ptr, a.rstd1.ptr, T64, C, 1)  // dx = ∂/∂x
            }
        }
    }
}
