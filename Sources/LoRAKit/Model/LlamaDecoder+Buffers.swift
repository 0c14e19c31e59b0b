/// Every buffer of a `LlamaDecoder`, described once (see `BufferBuilder`): the KV cache and the activations of
/// one prefill chunk, in the same `LayerBuffers` layout the training graph uses.
struct DecoderBuffers<F, I> {
    let frozen: FrozenVectors<F>
    let kCache: [F], vCache: [F]      // per layer [ctx, kv]
    let xs: [F]                       // 2 × [chunk, C] (layer input / output, ping-pong)
    let acts: LayerBuffers<F>         // [chunk, …]; K/V go to the cache, no log-sum-exp
    let loraU: F                      // [chunk, maxRank]
    let logits: F                     // [chunk, V]
    let ids: I, pos: I                // [chunk]
    let attScratch: F                 // lk_decode_attention scratch
    let mvScratch: F                  // [threads, max in]

    init(config c: LlamaConfig, context ctx: Int, chunk T: Int, maxRank: Int, attentionScratch: Int, matvecScratch: Int,
         _ b: inout BufferBuilder<F, I>) {
        let C = c.embeddingLength, kv = c.kvDim
        frozen = FrozenVectors(config: c, &b)
        kCache = (0..<c.blockCount).map { b.float("k_cache\($0)", ctx * kv, .kvCache) }
        vCache = (0..<c.blockCount).map { b.float("v_cache\($0)", ctx * kv, .kvCache) }
        xs = (0..<2).map { b.float("x\($0)", T * C, .layerInputs) }
        acts = b.scoped("layer") { LayerBuffers(B: 1, S: T, config: c, lora: nil, ownKV: false, keepsLSE: false, &$0) }
        loraU = b.float("lora_u", T * maxRank, .activations)
        logits = b.float("logits", T * c.vocabSize, .head)
        ids = b.int32("ids", T, .smallTensors); pos = b.int32("pos", T, .smallTensors)
        attScratch = b.float("attention", attentionScratch, .attentionScratch)
        mvScratch = b.float("matvec", matvecScratch, .attentionScratch)
    }
}
