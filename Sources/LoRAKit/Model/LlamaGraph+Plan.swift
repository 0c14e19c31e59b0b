import CKernels

/// The bytes a `LlamaGraph` allocates at init, computed from the configuration alone (no weights,
/// no pool) from the same buffer description (`GraphBuffers`) the graph allocates from. The memory
/// accountant builds on this, and a test compares it with the bytes of a real graph.
struct GraphPlan: Sendable, Equatable {
    /// LoRA factors (`params`). [P]
    var parameters = 0
    /// Their gradients (`grads`). [P]
    var gradients = 0
    /// Norm weights, RoPE frequencies, token ids, targets, positions, first keys, losses.
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
    /// Planned scratch of the bf16 products: bf16 pairs of the left operand and one W panel per thread (0 in fp32).
    var bf16Scratch = 0
    /// Planned scratch of the int8 products: the quantized left operand and one W panel per thread (0 unless int8).
    var int8Scratch = 0
    /// Partial dX sums of NUMA row groups 1..<G in backward-data (0 with one group). [G − 1, T, max(C, F)]
    var groupPartials = 0

    var total: Int {
        parameters + gradients + smallTensors + layerInputs + activations + head + backwardScratch + dequantScratch
            + attentionScratch + bf16Head + bf16Scratch + int8Scratch + groupPartials
    }
}

extension GraphPlan {
    /// Sums per accountant group (`bytes`: planned or made) plus the shape's counts.
    init(_ bytes: [PlanTerm: Int], shape s: GraphShape) {
        parameters = bytes[.parameters] ?? 0
        gradients = bytes[.gradients] ?? 0
        smallTensors = bytes[.smallTensors] ?? 0
        layerInputs = bytes[.layerInputs] ?? 0
        activations = bytes[.activations] ?? 0
        activationSets = s.activationSets
        head = bytes[.head] ?? 0
        chunkRows = s.chunkRows
        backwardScratch = bytes[.backwardScratch] ?? 0
        attentionScratch = bytes[.attentionScratch] ?? 0
        groupPartials = bytes[.groupPartials] ?? 0
    }
}

extension LlamaGraph {
    /// The allocation plan of `init(weights:lora:batch:sequence:training:checkpointing:pool:logitChunkBytes:)`
    /// for a pool of `threads` threads in `rowGroups` NUMA row groups, with `precision` set after init. `loraCount` is the number of LoRA parameters (0 without LoRA).
    /// Matrices are assumed stored in a dequantizing block type (the loader converts everything else).
    /// The buffers are the ones `GraphBuffers` describes (the graph allocates from the same description).
    static func plan(config c: LlamaConfig, lora: LoRAConfig?, loraCount: Int, batch B: Int, sequence S: Int,
                     training: Bool, checkpointing: Bool, threads: Int, logitChunkBytes: Int = 16 << 20,
                     rowGroups: Int = 1, precision: ComputePrecision = .fp32) -> GraphPlan {
        let shape = GraphShape(config: c, lora: lora, loraCount: loraCount, B: B, S: S, training: training,
                               checkpointing: checkpointing, threads: threads, rowGroups: rowGroups,
                               logitChunkBytes: logitChunkBytes)
        var b = BufferBuilder.planning()
        _ = GraphBuffers(shape, &b)
        var p = GraphPlan(b.bytesByTerm, shape: shape)
        p.dequantScratch = max(64, plannedMatrixShapes(c).map { qmatmulScratchBytes(out: $0.out, in: $0.in, threads: threads) }.max() ?? 0)
        p.bf16Head = bf16HeadBytes(config: c, training: training, precision: precision, checkpointing: checkpointing)
        p.bf16Scratch = bf16ScratchBytes(config: c, rows: B * S, chunkRows: shape.chunkRows, training: training, threads: threads,
                                         precision: precision)
        p.int8Scratch = int8ScratchBytes(config: c, rows: B * S, threads: threads, precision: precision)
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

    /// Dequantization panel bytes for this model's matrices as stored (the largest decides).
    static func dequantScratchBytes(_ w: ModelWeights, pool: ThreadPool) -> Int {
        var q = 0
        for m in allMatrices(w) {
            q = max(q, lk_qmatmul_scratch_bytes(pool.raw, lk_type(rawValue: m.type.rawValue), Int64(m.rows), Int64(m.cols)))
        }
        return max(q, 64)
    }

    /// Bytes this graph's buffers hold, group by group, as made at init (the truth the plan is tested against).
    var allocatedPlan: GraphPlan {
        var p = GraphPlan(madeBytes, shape: shape)
        p.dequantScratch = qScratchBytes
        p.bf16Head = bf16HeadBytesAllocated
        p.bf16Scratch = bf16ScratchAllocated
        p.int8Scratch = int8ScratchAllocated
        return p
    }
}
