import CKernels
import Foundation

/// The compute graph of a Llama model for a fixed batch shape [B, S]: every buffer planned and
/// allocated once at init, then reused by each forward (and backward) pass.
/// Gradients flow through the frozen quantized weights to the LoRA factors only.
final class LlamaGraph: LayerRunner {
    let weights: ModelWeights
    let config: LlamaConfig
    let lora: LoRAConfig?
    let slots: [LoRASlot]
    let B: Int, S: Int, T: Int
    let training: Bool
    let checkpointing: Bool
    let pool: ThreadPool
    let shape: GraphShape
    /// Every buffer, allocated once from the description the memory plan uses (`GraphBuffers`).
    let buffers: GraphBuffers<FloatBuffer, Int32Buffer>
    /// Bytes made per accountant group (`allocatedPlan`).
    let madeBytes: [PlanTerm: Int]
    /// Dequantization panels of the frozen products (sized for the matrices as stored).
    let qScratch: UnsafeMutableRawPointer
    let qScratchBytes: Int

    /// Seed of this step's dropout masks (set by the trainer before forward).
    var dropoutSeed: UInt64 = 0
    /// Grid-exact quant-aware training: the frozen per-group corrections added to Q4_K/Q5_K projections (nil: none).
    var quantGrid: QuantGridLoRA?
    /// LoRA dropout is on only inside a training pass (forward + backward); evaluation passes of a
    /// training graph (validation) and inference graphs never drop.
    var dropoutActive = false
    /// Tests: true forces the vocabulary-panel loss, false the row chunks; nil chooses (`vocabPanelRows`).
    var forceVocabPanels: Bool?
    /// The batch's rows hold several segments (packed examples): attention uses `firstKey`.
    private(set) var segmented = false
    /// DoRA's row norms are recomputed from the parameters at every pass unless this is set (only m/‖·‖ then; tests:
    /// finite differences of the detached-norm gradient hold the norms fixed).
    var doraNormsFrozen = false
    /// When set, wall time per operation kind is added to it (benchmarks; nil costs nothing).
    var profile: OpProfile?
    /// Arithmetic of the frozen-weight products. Setting bf16 packs the LM head once (`updateBF16Head`).
    var precision: ComputePrecision = .fp32 {
        didSet { if precision != oldValue { updateBF16Head(); updateBF16Scratch(); updateInt8Scratch() } }
    }
    /// The LM head packed for the bf16 products: [forward] or [forward, backward]; empty in fp32.
    var bf16Head: [BF16PackedMatrix] = []
    /// Planned scratch of the bf16 products (`lk_bf16_scratch_bytes`, `bf16ScratchBytes`); nil in fp32.
    var bf16Scratch: UnsafeMutableRawPointer?
    var bf16ScratchAllocated = 0
    /// Planned scratch of the int8 products (`lk_int8_scratch_bytes`, `int8ScratchBytes`); nil unless int8.
    var int8Scratch: UnsafeMutableRawPointer?
    var int8ScratchAllocated = 0

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
        shape = GraphShape(config: c, lora: lora?.config, loraCount: lora?.count ?? 0, B: B, S: S, training: training,
                           checkpointing: checkpointing, threads: pool.threads, rowGroups: pool.groupCount,
                           logitChunkBytes: logitChunkBytes)
        var b = BufferBuilder.allocating()
        buffers = GraphBuffers(shape, &b)
        madeBytes = b.madeBytes
        if let lora { buffers.params.copy(from: lora.values) }
        buffers.frozen.load(weights)
        for t in 0..<T { buffers.pos.ptr[t] = Int32(t % S) }
        qScratchBytes = LlamaGraph.dequantScratchBytes(weights, pool: pool)
        qScratch = UnsafeMutableRawPointer.allocate(byteCount: qScratchBytes, alignment: 64)
        fillWindowFirstKeys()
        doraRows?.loadBaseNorms(weights, slots: slots)
        let Hq = Int64(c.headCount), Hkv = Int64(c.headCountKV), hd = Int64(c.headDim)
        assert(buffers.attScratch.count == lk_attention_scratch_floats(pool.raw, Int64(B), Int64(S), Hq, Hkv, hd))
        assert(!training || buffers.attBwdScratch.count == lk_attention_bwd_scratch_floats(pool.raw, Int64(B), Int64(S), Hq, Hkv, hd))
    }

    deinit {
        qScratch.deallocate()
        bf16Scratch?.deallocate()
        int8Scratch?.deallocate()
    }

    static func allMatrices(_ w: ModelWeights) -> [QuantizedMatrix] {
        var m = [w.output ?? w.tokenEmbedding]
        for l in w.layers { m += LoRATarget.allCases.map { l.matrix($0) } }
        return m
    }

    /// The LM head matrix [V, C] (the token embedding when tied).
    var head: QuantizedMatrix { weights.output ?? weights.tokenEmbedding }
    /// LoRA factors and their gradients, flat (layout of LoRAParameters). [P]
    var params: FloatBuffer { buffers.params }
    var grads: FloatBuffer { buffers.grads }
    var frozen: FrozenVectors<FloatBuffer> { buffers.frozen }
    var chunkRows: Int { shape.chunkRows }
    /// 1/√hd.
    var attentionScale: Float { config.attentionScale }
    /// Per-token first keys for the attention kernels: nil (plain causal) unless the batch is segmented.
    var firstKeys: UnsafePointer<Int32>? { segmented ? UnsafePointer(buffers.firstKey.ptr) : nil }

    /// Loads a batch: tokens [B·S] and next-token targets [B·S] (−1 = not scored). `positions` [B·S] are the
    /// tokens' RoPE positions (nil: 0..<S in every row); a row's segment (packed example) starts at its first token
    /// and wherever the position does not continue the previous one, and a token attends only inside its segment.
    func setBatch(tokens: [Int32], targets tg: [Int32], positions: [Int32]? = nil) {
        let b = buffers
        defer { fillWindowFirstKeys() }
        b.ids.copy(from: tokens)
        b.targets.copy(from: tg)
        segmented = false
        guard let positions, positions.count == T else {
            for t in 0..<T { b.pos.ptr[t] = Int32(t % S) }
            return
        }
        b.pos.copy(from: positions)
        for row in 0..<B {
            var start = 0
            for s in 0..<S {
                let t = row * S + s
                if s > 0 && positions[t] != positions[t - 1] &+ 1 { start = s }
                b.firstKey.ptr[t] = Int32(start)
                if start > 0 { segmented = true }
            }
        }
    }
}
