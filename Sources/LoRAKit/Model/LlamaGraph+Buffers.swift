import CKernels

/// What a `LlamaGraph`'s buffers depend on: the model, the adapter layout and the batch shape.
struct GraphShape: Sendable {
    var config: LlamaConfig
    var lora: LoRAConfig?
    /// Trainable parameters (0 without LoRA).
    var loraCount: Int
    var B: Int, S: Int
    var training: Bool
    var checkpointing: Bool
    /// Pool threads and NUMA row groups (per-thread attention rows, per-group partial sums).
    var threads: Int
    var rowGroups: Int = 1
    var logitChunkBytes: Int = 16 << 20

    var T: Int { B * S }
    /// Rows of one logits chunk.
    var chunkRows: Int { max(1, min(T, logitChunkBytes / max(1, config.vocabSize * 4))) }
    /// Activation sets kept: one per layer when training without checkpointing, else one.
    var activationSets: Int { (training && !checkpointing) ? config.blockCount : 1 }
}

/// Every buffer of a `LlamaGraph`, described once: `init` with an allocating builder makes the graph's buffers,
/// with a planning builder the memory plan (`LlamaGraph.plan`). Shapes are in the comments.
struct GraphBuffers<F, I> {
    // LoRA parameters and their gradients, flat (layout of LoRAParameters). [P]
    let params: F, grads: F
    let frozen: FrozenVectors<F>
    /// Token ids, next-token targets, RoPE positions and each token's first attended key (row-relative). [T]
    let ids: I, targets: I, pos: I, firstKey: I
    /// First keys bounded by the sliding window (`slidingWindow` set; else empty). [T]
    let windowFirstKey: I
    let losses: F                               // [T]
    /// Layer inputs: xs[l] is the input of layer l, xs[L] the final hidden state ([T, C] each).
    /// Inference keeps only two (ping-pong).
    let xs: [F]
    let acts: [LayerBuffers<F>]
    // Head.
    let xf: F, rstdf: F                         // [T, C], [T]
    let logits: F                               // [chunkRows, V]
    /// Vocabulary-panel loss (`headLossByPanels`): Σ exp as doubles [T] (2T floats), running max, target logit, lse.
    let headStats: F                            // [5T]
    // Backward scratch (training only; empty otherwise).
    let dx: F, dxn: F, dxf: F                   // [T, C]
    let datt: F                                 // [T, Hq·hd]
    let dq: F                                   // [T, Hq·hd]
    let dk: F, dv: F                            // [T, kv]
    let dqPre: F, dkPre: F                      // [T, Hq·hd], [T, kv] before the per-head norms (qkNorm only)
    let dh: F, dg: F, du: F                     // [T, F]
    let dpost: F                                // [T, C] gradient below a post-norm (Gemma 3; empty otherwise)
    let dU: F                                   // [T, r]
    let dropScratch: F                          // [T, max(C, F, Hq·hd)] when dropout > 0
    /// DoRA (empty without): per-row ‖W0 row‖², ‖W0 + s·B·A‖, m/‖·‖ ([3, rows of all slots]), the norm update's
    /// scratch, and backward's scaled dy and per-column sums ([T, max out], [max out]; training only).
    let doraRows: F, doraScratch: F, doraDy: F, doraRowAcc: F
    /// Attention forward and backward scratch (transposed copies and per-thread rows).
    let attScratch: F, attBwdScratch: F
    /// Partial dX of row groups 1..<G in backward-data (`lk_qmatmul_bwd_data_grouped`); empty with one group.
    let groupPartials: F                        // [G − 1, T, max(C, F, Hq·hd)]

    init(_ s: GraphShape, _ b: inout BufferBuilder<F, I>) {
        let c = s.config, T = s.T, C = c.embeddingLength, kv = c.kvDim, F = c.feedForwardLength, L = c.blockCount
        let qd = c.headCount * c.headDim, tr = s.training ? 1 : 0
        params = b.float("lora_params", s.loraCount, .parameters)
        grads = b.float("lora_grads", tr * s.loraCount, .gradients)
        frozen = FrozenVectors(config: c, &b)
        ids = b.int32("ids", T, .smallTensors); targets = b.int32("targets", T, .smallTensors)
        pos = b.int32("pos", T, .smallTensors); firstKey = b.int32("first_key", T, .smallTensors)
        windowFirstKey = b.int32("window_first_key", c.slidingWindow == nil ? 0 : T, .smallTensors)
        losses = b.float("losses", T, .smallTensors)
        xs = (0..<(s.training ? L + 1 : 2)).map { b.float("x\($0)", T * C, .layerInputs) }
        acts = (0..<s.activationSets).map { l in
            b.scoped("layer\(l)") { LayerBuffers(B: s.B, S: s.S, config: c, lora: s.lora, keepsDoRA: s.training, &$0) }
        }
        xf = b.float("xf", T * C, .head); rstdf = b.float("rstdf", T, .head)
        logits = b.float("logits", s.chunkRows * c.vocabSize, .head)
        headStats = b.float("head_stats", 5 * T, .head)
        dx = b.float("dx", tr * T * C, .backwardScratch); dxn = b.float("dxn", tr * T * C, .backwardScratch)
        dxf = b.float("dxf", tr * T * C, .backwardScratch); datt = b.float("datt", tr * T * qd, .backwardScratch)
        dq = b.float("dq", tr * T * qd, .backwardScratch)
        dk = b.float("dk", tr * T * kv, .backwardScratch); dv = b.float("dv", tr * T * kv, .backwardScratch)
        let qkn = c.qkNorm ? tr : 0
        dqPre = b.float("dq_pre", qkn * T * qd, .backwardScratch); dkPre = b.float("dk_pre", qkn * T * kv, .backwardScratch)
        dh = b.float("dh", tr * T * F, .backwardScratch); dg = b.float("dg", tr * T * F, .backwardScratch)
        du = b.float("du", tr * T * F, .backwardScratch)
        dpost = b.float("dpost", c.postNorms ? tr * T * C : 0, .backwardScratch)
        dU = b.float("dU", tr * T * (s.lora?.rank ?? 0), .backwardScratch)
        let dropout = (s.lora?.dropout ?? 0) > 0
        dropScratch = b.float("dropout", dropout ? T * max(C, F, qd) : 0, .backwardScratch)
        let dora = s.lora.flatMap { $0.useDoRA ? $0 : nil }
        let doraOut = dora.map { d in d.targets.map { $0.shape(c).out }.max() ?? 0 } ?? 0
        doraRows = b.float("dora_rows", 3 * L * (dora?.targets.reduce(0) { $0 + $1.shape(c).out } ?? 0), .smallTensors)
        doraScratch = b.float("dora_scratch", dora.map { DoRARows.scratchFloats($0, model: c) } ?? 0, .smallTensors)
        doraDy = b.float("dora_dy", tr * T * doraOut, .backwardScratch)
        doraRowAcc = b.float("dora_row_sums", tr * doraOut, .backwardScratch)
        let Hq = Int64(c.headCount), Hkv = Int64(c.headCountKV), hd = Int64(c.headDim), S = Int64(s.S)
        attScratch = b.float("attention", GraphBuffers.perThreadScaled(s.threads) {
            lk_attention_scratch_floats(nil, $0, S, Hq, Hkv, hd)
        }(Int64(s.B)), .attentionScratch)
        attBwdScratch = b.float("attention_bwd", tr * GraphBuffers.perThreadScaled(s.threads) {
            lk_attention_bwd_scratch_floats(nil, $0, S, Hq, Hkv, hd)
        }(Int64(s.B)), .attentionScratch)
        groupPartials = b.float("group_partials", tr * lk_qmatmul_partial_floats(Int32(max(s.rowGroups, 1)), Int64(T),
                                                                                 Int64(max(C, F, qd))), .groupPartials)
    }

    /// Attention scratch sizes are `shared(B) + threads · perThread`; with no pool (one thread) and
    /// B = 0 the kernels report `perThread` alone, which gives the figure for any thread count.
    static func perThreadScaled(_ threads: Int, _ f: @escaping (Int64) -> Int) -> (Int64) -> Int {
        { b in f(b) + (max(threads, 1) - 1) * f(0) }
    }
}
