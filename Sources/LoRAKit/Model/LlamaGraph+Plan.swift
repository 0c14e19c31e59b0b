import CKernels

/// The bytes a `LlamaGraph` allocates at init, computed from the configuration alone (no weights,
/// no pool), with the same formulas as `init`. The memory accountant builds on this, and a test
/// compares it with the bytes of a real graph, so the two cannot drift apart.
struct GraphPlan: Sendable, Equatable {
    /// LoRA factors (`params`). [P]
    var parameters = 0
    /// Their gradients (`grads`). [P]
    var gradients = 0
    /// Norm weights, RoPE frequencies, token ids, targets, positions, losses.
    var smallTensors = 0
    /// Layer inputs `xs` ([T, C] each: L + 1 when training, 2 for inference).
    var layerInputs = 0
    /// `LayerActivations` sets (L without checkpointing, 1 with).
    var activations = 0
    /// Number of activation sets.
    var activationSets = 0
    /// Final norm output and the logits chunk ([chunkRows, V]).
    var head = 0
    /// Rows of one logits chunk.
    var chunkRows = 0
    /// Backward scratch of one layer: dx, dxn, dxf, datt, dq [T, C]; dk, dv [T, kv]; dh, dg, du [T, F]; dU [T, r];
    /// dropout scratch.
    var backwardScratch = 0
    /// Dequantization panels of `lk_qmatmul_*` (one per thread, the largest matrix decides).
    var dequantScratch = 0
    /// Attention forward and backward scratch (transposed copies and per-thread rows).
    var attentionScratch = 0
    /// The LM head packed for the bf16 products (0 in fp32 or above `bf16HeadPackLimit`).
    var bf16Head = 0
    /// Partial dX sums of NUMA row groups 1..<G in backward-data (0 with one group). [G − 1, T, max(C, F)]
    var groupPartials = 0

    var total: Int {
        parameters + gradients + smallTensors + layerInputs + activations + head + backwardScratch + dequantScratch
            + attentionScratch + bf16Head + groupPartials
    }
}

extension LlamaGraph {
    /// The allocation plan of `init(weights:lora:batch:sequence:training:checkpointing:pool:logitChunkBytes:)`
    /// for a pool of `threads` threads in `rowGroups` NUMA row groups, with `precision` set after init. `loraCount` is the number of LoRA parameters (0 without LoRA).
    /// Matrices are assumed stored in a dequantizing block type (the loader converts everything else).
    static func plan(config c: LlamaConfig, lora: LoRAConfig?, loraCount: Int, batch B: Int, sequence S: Int,
                     training: Bool, checkpointing: Bool, threads: Int, logitChunkBytes: Int = 16 << 20,
                     rowGroups: Int = 1, precision: ComputePrecision = .fp32) -> GraphPlan {
        let T = B * S, C = c.embeddingLength, kv = c.kvDim, F = c.feedForwardLength, L = c.blockCount
        let V = c.vocabSize, hd = c.headDim, f = 4
        var p = GraphPlan()
        p.parameters = loraCount * f
        p.gradients = training ? loraCount * f : 0
        p.smallTensors = ((2 * L + 1) * C + hd / 2 + T) * f + 3 * T * 4   // norms, invFreq, losses; ids, targets, pos
        p.layerInputs = (training ? L + 1 : 2) * T * C * f
        p.activationSets = (training && !checkpointing) ? L : 1
        p.activations = p.activationSets * LayerActivations.floats(T: T, B: B, S: S, config: c, lora: lora) * f
        p.chunkRows = max(1, min(T, logitChunkBytes / max(1, V * 4)))
        p.head = (T * C + T + p.chunkRows * V) * f
        if training {
            let r = lora?.rank ?? 0
            let drop = (lora?.dropout ?? 0) > 0 ? T * max(C, F) : 0
            p.backwardScratch = (5 * T * C + 2 * T * kv + 3 * T * F + T * r + drop) * f
        }
        p.dequantScratch = max(64, plannedMatrixShapes(c).map { qmatmulScratchBytes(out: $0.out, in: $0.in, threads: threads) }.max() ?? 0)
        let Hq = Int64(c.headCount), Hkv = Int64(c.headCountKV)
        p.attentionScratch = perThreadScaled(threads) { b in lk_attention_scratch_floats(nil, b, Int64(S), Hq, Hkv, Int64(hd)) }(Int64(B)) * f
        if training {
            p.attentionScratch += perThreadScaled(threads) { b in
                lk_attention_bwd_scratch_floats(nil, b, Int64(S), Hq, Hkv, Int64(hd))
            }(Int64(B)) * f
        }
        if training { p.groupPartials = lk_qmatmul_partial_floats(Int32(max(rowGroups, 1)), Int64(T), Int64(max(C, F))) * f }
        p.bf16Head = bf16HeadBytes(config: c, training: training, precision: precision, checkpointing: checkpointing)
        return p
    }

    /// (out, in) of every matrix the graph multiplies by: the LM head and the seven per layer.
    static func plannedMatrixShapes(_ c: LlamaConfig) -> [(out: Int, in: Int)] {
        [(c.vocabSize, c.embeddingLength)] + LoRATarget.allCases.map { $0.shape(c) }
    }

    /// `lk_qmatmul_scratch_bytes` for a pool of `threads`: the kernel reserves one panel per thread
    /// plus 64 bytes of alignment slack, so the one-thread figure scales.
    static func qmatmulScratchBytes(out: Int, in inF: Int, threads: Int) -> Int {
        let one = lk_qmatmul_scratch_bytes(nil, LK_Q8_0, Int64(out), Int64(inF))
        return one == 0 ? 0 : (one - 64) * max(threads, 1) + 64
    }

    /// Attention scratch sizes are `shared(B) + threads · perThread`; with no pool (one thread) and
    /// B = 0 the kernels report `perThread` alone, which gives the figure for any thread count.
    private static func perThreadScaled(_ threads: Int, _ f: @escaping (Int64) -> Int) -> (Int64) -> Int {
        { b in f(b) + (max(threads, 1) - 1) * f(0) }
    }

    /// Bytes this graph's buffers hold, buffer by buffer (the truth the plan is tested against).
    var allocatedPlan: GraphPlan {
        var p = GraphPlan()
        p.parameters = params.bytes
        p.gradients = grads.bytes
        p.smallTensors = (attnNorms + ffnNorms + [outputNorm, invFreq, losses]).reduce(0) { $0 + $1.bytes }
            + (ids.count + targets.count + pos.count) * 4
        p.layerInputs = xs.reduce(0) { $0 + $1.bytes }
        p.activationSets = acts.count
        p.activations = acts.reduce(0) { s, a in
            s + [a.xn1, a.rstd1, a.q, a.k, a.v, a.att, a.lse, a.x2, a.xn2, a.rstd2, a.g, a.u, a.h].reduce(0) { $0 + $1.bytes }
                + a.loraU.values.reduce(0) { $0 + $1.bytes }
        }
        p.chunkRows = chunkRows
        p.head = xf.bytes + rstdf.bytes + logits.bytes
        p.backwardScratch = [dx, dxn, dxf, datt, dq, dk, dv, dh, dg, du, dU, dropScratch].reduce(0) { $0 + $1.bytes }
        var q = 0
        for m in LlamaGraph.allMatrices(weights) {   // as init sizes qScratch
            q = max(q, lk_qmatmul_scratch_bytes(pool.raw, lk_type(rawValue: m.type.rawValue), Int64(m.rows), Int64(m.cols)))
        }
        p.dequantScratch = max(q, 64)
        p.attentionScratch = attScratch.bytes + attBwdScratch.bytes
        p.bf16Head = bf16HeadBytesAllocated
        p.groupPartials = groupPartials.bytes
        return p
    }
}
