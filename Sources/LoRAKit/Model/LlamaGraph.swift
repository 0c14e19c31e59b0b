import CKernels
import Foundation

/// The compute graph of a Llama model for a fixed batch shape [B, S]: every buffer planned and
/// allocated once at init, then reused by each forward (and backward) pass.
/// Gradients flow through the frozen quantized weights to the LoRA factors only.
final class LlamaGraph {
    let weights: ModelWeights
    let config: LlamaConfig
    let lora: LoRAConfig?
    let slots: [LoRASlot]
    let B: Int, S: Int, T: Int
    let training: Bool
    let checkpointing: Bool
    let pool: ThreadPool

    // LoRA parameters and their gradients, flat (layout of LoRAParameters).
    let params: FloatBuffer
    let grads: FloatBuffer

    // Frozen small tensors copied out of the model file.
    let attnNorms: [FloatBuffer], ffnNorms: [FloatBuffer], outputNorm: FloatBuffer
    let invFreq: FloatBuffer                  // [hd/2]

    let ids: Int32Buffer, targets: Int32Buffer, pos: Int32Buffer   // [T]
    /// Layer inputs: xs[l] is the input of layer l, xs[L] the final hidden state ([T, C] each).
    /// Inference keeps only two (ping-pong).
    let xs: [FloatBuffer]
    let acts: [LayerActivations]
    // Head.
    let xf: FloatBuffer, rstdf: FloatBuffer   // [T, C], [T]
    let chunkRows: Int
    let logits: FloatBuffer                   // [chunkRows, V]
    let losses: FloatBuffer                   // [T]
    // Backward scratch (training only).
    let dx: FloatBuffer, dxn: FloatBuffer, dxf: FloatBuffer, datt: FloatBuffer, dq: FloatBuffer   // [T, C]
    let dk: FloatBuffer, dv: FloatBuffer      // [T, kv]
    let dh: FloatBuffer, dg: FloatBuffer, du: FloatBuffer    // [T, F]
    let dU: FloatBuffer                       // [T, r]
    let dropScratch: FloatBuffer              // [T, max(in)] when dropout > 0
    let qScratch: UnsafeMutableRawPointer
    /// Partial dX of row groups 1..<G in backward-data (`lk_qmatmul_bwd_data_grouped`); empty with one group.
    let groupPartials: FloatBuffer            // [G − 1, T, max(C, F)]
    let attScratch: FloatBuffer, attBwdScratch: FloatBuffer

    /// Seed of this step's dropout masks (set by the trainer before forward).
    var dropoutSeed: UInt64 = 0
    /// LoRA dropout is on only inside a training pass (forward + backward); evaluation passes of a
    /// training graph (validation) and inference graphs never drop.
    var dropoutActive = false
    /// When set, wall time per operation kind is added to it (benchmarks; nil costs nothing).
    var profile: OpProfile?
    /// Arithmetic of the frozen-weight products. Setting bf16 packs the LM head once (`updateBF16Head`).
    var precision: ComputePrecision = .fp32 { didSet { if precision != oldValue { updateBF16Head() } } }
    /// The LM head packed for the bf16 products: [forward] or [forward, backward]; empty in fp32.
    var bf16Head: [BF16PackedMatrix] = []

    init(weights: ModelWeights, lora: LoRAParameters?, batch B: Int, sequence S: Int, training: Bool,
         checkpointing: Bool, pool: ThreadPool, logitChunkBytes: Int = 16 << 20) {
        let c = weights.config
        self.weights = weights
        self.config = c
        self.lora = lora?.config
        self.slots = lora?.slots ?? []
        self.B = B; self.S = S; self.T = B * S
        self.training = training
        self.checkpointing = checkpointing
        self.pool = pool
        let T = B * S, C = c.embeddingLength, kv = c.kvDim, F = c.feedForwardLength, L = c.blockCount
        let V = c.vocabSize, hd = c.headDim

        params = FloatBuffer(lora?.count ?? 0)
        if let lora { params.copy(from: lora.values) }
        grads = FloatBuffer(training ? (lora?.count ?? 0) : 0)

        attnNorms = weights.layers.map { let b = FloatBuffer(C); b.copy(from: $0.attnNorm); return b }
        ffnNorms = weights.layers.map { let b = FloatBuffer(C); b.copy(from: $0.ffnNorm); return b }
        outputNorm = FloatBuffer(C); outputNorm.copy(from: weights.outputNorm)
        let inv = FloatBuffer(hd / 2)
        if let ff = weights.ropeFreqFactors {
            ff.withUnsafeBufferPointer { lk_rope_inv_freq(inv.ptr, Int64(hd), c.ropeFreqBase, $0.baseAddress) }
        } else {
            lk_rope_inv_freq(inv.ptr, Int64(hd), c.ropeFreqBase, nil)
        }
        invFreq = inv

        ids = Int32Buffer(T); targets = Int32Buffer(T); pos = Int32Buffer(T)
        for t in 0..<T { pos.ptr[t] = Int32(t % S) }
        xs = (0..<(training ? L + 1 : 2)).map { _ in FloatBuffer(T * C) }
        let nActs = (training && !checkpointing) ? L : 1
        acts = (0..<nActs).map { _ in LayerActivations(T: T, B: B, S: S, config: c, lora: lora?.config) }
        xf = FloatBuffer(T * C); rstdf = FloatBuffer(T)
        chunkRows = max(1, min(T, logitChunkBytes / max(1, V * 4)))
        logits = FloatBuffer(chunkRows * V)
        losses = FloatBuffer(T)

        let g = training ? 1 : 0
        dx = FloatBuffer(g * T * C); dxn = FloatBuffer(g * T * C); dxf = FloatBuffer(g * T * C)
        datt = FloatBuffer(g * T * C); dq = FloatBuffer(g * T * C)
        dk = FloatBuffer(g * T * kv); dv = FloatBuffer(g * T * kv)
        dh = FloatBuffer(g * T * F); dg = FloatBuffer(g * T * F); du = FloatBuffer(g * T * F)
        dU = FloatBuffer(g * T * (lora?.config.rank ?? 0))
        let dropout = (lora?.config.dropout ?? 0) > 0
        dropScratch = FloatBuffer(dropout ? T * max(C, F) : 0)

        var qBytes = 0
        for m in LlamaGraph.allMatrices(weights) {
            qBytes = max(qBytes, lk_qmatmul_scratch_bytes(pool.raw, lk_type(rawValue: m.type.rawValue), Int64(m.rows), Int64(m.cols)))
        }
        qScratch = UnsafeMutableRawPointer.allocate(byteCount: max(qBytes, 64), alignment: 64)
        groupPartials = FloatBuffer(training ? lk_qmatmul_partial_floats(Int32(pool.groupCount), Int64(T), Int64(max(C, F))) : 0)
        let Hq = Int64(c.headCount), Hkv = Int64(c.headCountKV)
        attScratch = FloatBuffer(lk_attention_scratch_floats(pool.raw, Int64(B), Int64(S), Hq, Hkv, Int64(hd)))
        attBwdScratch = FloatBuffer(training ? lk_attention_bwd_scratch_floats(pool.raw, Int64(B), Int64(S), Hq, Hkv, Int64(hd)) : 0)
    }

    deinit { qScratch.deallocate() }

    static func allMatrices(_ w: ModelWeights) -> [QuantizedMatrix] {
        var m = [w.output ?? w.tokenEmbedding]
        for l in w.layers { m += [l.q, l.k, l.v, l.o, l.gate, l.up, l.down] }
        return m
    }

    /// The LM head matrix [V, C] (the token embedding when tied).
    var head: QuantizedMatrix { weights.output ?? weights.tokenEmbedding }

    func slot(_ layer: Int, _ t: LoRATarget) -> LoRASlot? {
        guard let lora, let ti = lora.targets.firstIndex(of: t) else { return nil }
        return slots[layer * lora.targets.count + ti]
    }

    func matrix(_ layer: Int, _ t: LoRATarget) -> QuantizedMatrix { weights.layers[layer].matrix(t) }

    func actsFor(_ layer: Int) -> LayerActivations { acts.count == 1 ? acts[0] : acts[layer] }
    func xIn(_ layer: Int) -> FloatBuffer { xs.count == 2 ? xs[layer % 2] : xs[layer] }
    func xOut(_ layer: Int) -> FloatBuffer { xs.count == 2 ? xs[(layer + 1) % 2] : xs[layer + 1] }

    /// Loads a batch: tokens [B·S] and next-token targets [B·S] (−1 = not scored).
    func setBatch(tokens: [Int32], targets tg: [Int32]) {
        ids.copy(from: tokens)
        targets.copy(from: tg)
    }
}
