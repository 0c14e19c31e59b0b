import CKernels

/// One batched pass of the decoder: n new tokens at positions position ..< position+n, their k and v
/// written into the cache, attention over everything cached so far. The layers are `LayerRunner.layerForward`;
/// this file says how the decoder runs them.
extension LlamaDecoder {
    /// Runs `tokens` (n ≤ maxChunk) and leaves the logits of the last `headRows` rows in logitsBuf ([headRows, V]).
    func forwardChunk(_ tokens: [Int32], headRows: Int) {
        let c = config, n = tokens.count, C = Int64(c.embeddingLength), b = buffers
        b.ids.copy(from: tokens)
        for t in 0..<n { b.pos.ptr[t] = Int32(position + t) }
        passRows = n
        embedAndRunLayers()
        position += n
        guard headRows > 0 else { return }
        let first = n - headRows
        let xs = layerOutput(c.blockCount - 1) + first * Int(C), xn = b.acts.xn1.ptr
        lk_rmsnorm_fwd(pool.raw, xn, b.acts.rstd1.ptr, xs, b.frozen.outputNorm.ptr, Int64(headRows), C, c.rmsNormEps)
        product(weights.lmHead, x: xn, y: b.logits.ptr, rows: headRows)
    }

    /// y[rows, W.rows] = x[rows, W.cols]·Wᵀ: one pass over the quantized rows for a few rows (decode steps),
    /// the panel-dequantizing matmul for prefill.
    func product(_ W: QuantizedMatrix, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int) {
        let out = Int64(W.rows), inF = Int64(W.cols)
        W.withUnsafeBytes { w in
            if useMatVec && rows <= LlamaDecoder.matvecRows {
                lk_decode_qmatvec(pool.raw, buffers.mvScratch.ptr, y, out, x, Int32(W.type.rawValue), w, out, inF, Int64(rows))
            } else {
                lk_qmatmul_fwd(pool.raw, qScratch, y, out, x, inF, lk_type(rawValue: W.type.rawValue), w, out, inF, Int64(rows), 0)
            }
        }
    }
}

/// How the decoder runs the layers (`LayerRunner`): the chunk's rows, ping-pong layer inputs, one activation set,
/// K and V appended to the cache at `position`, attention over the cache.
extension LlamaDecoder {
    var frozen: FrozenVectors<FloatBuffer> { buffers.frozen }
    var passIDs: UnsafeMutablePointer<Int32> { buffers.ids.ptr }
    var passPositions: UnsafeMutablePointer<Int32> { buffers.pos.ptr }

    func layerInput(_ l: Int) -> UnsafeMutablePointer<Float> { buffers.xs[l % 2].ptr }
    func layerOutput(_ l: Int) -> UnsafeMutablePointer<Float> { buffers.xs[(l + 1) % 2].ptr }
    func activations(_ l: Int) -> LayerActivations { buffers.acts }

    func frozenProduct(_ W: QuantizedMatrix, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int) {
        product(W, x: x, y: y, rows: rows)
    }

    func loraFactors(_ layer: Int, _ t: LoRATarget) -> LoRAFactors? {
        guard let a = adapter else { return nil }
        return LoRAFactors(a.values.ptr, slots: a.slots, config: a.config, layer: layer, target: t)
    }

    func loraInput(_ x: UnsafeMutablePointer<Float>, count: Int, layer: Int, target: LoRATarget) -> UnsafeMutablePointer<Float> { x }
    func loraU(_ a: LayerActivations, _ t: LoRATarget) -> UnsafeMutablePointer<Float> { buffers.loraU.ptr }
    /// A decode step's LoRA products are a few thousand flops: on the calling thread (no pool hand-off).
    func loraPool(rows: Int) -> OpaquePointer? { rows <= LlamaDecoder.matvecRows ? nil : pool.raw }

    func kvRows(_ l: Int, _ a: LayerActivations) -> (k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
        let kv = config.kvDim
        return (buffers.kCache[l].ptr + position * kv, buffers.vCache[l].ptr + position * kv)
    }

    func attend(_ l: Int, _ a: LayerActivations) {
        let c = config
        lk_decode_attention_window(pool.raw, buffers.attScratch.ptr, a.att.ptr, a.q.ptr, buffers.kCache[l].ptr,
                                   buffers.vCache[l].ptr, Int64(position), Int64(passRows), Int64(c.headCount),
                                   Int64(c.headCountKV), Int64(c.headDim), c.attentionScale, Int64(c.attentionWindow(layer: l) ?? 0))
    }
}
