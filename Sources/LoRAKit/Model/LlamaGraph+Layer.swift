import CKernels

/// How the training graph runs the layers (`LayerRunner`): B·S rows per pass, layer inputs kept per layer
/// (ping-pong for inference), K and V in the layer's activations, causal attention within each row's segments.
extension LlamaGraph {
    var passRows: Int { T }
    var passIDs: UnsafeMutablePointer<Int32> { buffers.ids.ptr }
    var passPositions: UnsafeMutablePointer<Int32> { buffers.pos.ptr }

    func activations(_ l: Int) -> LayerActivations { buffers.acts.count == 1 ? buffers.acts[0] : buffers.acts[l] }
    func layerInput(_ l: Int) -> UnsafeMutablePointer<Float> { (buffers.xs.count == 2 ? buffers.xs[l % 2] : buffers.xs[l]).ptr }
    func layerOutput(_ l: Int) -> UnsafeMutablePointer<Float> {
        (buffers.xs.count == 2 ? buffers.xs[(l + 1) % 2] : buffers.xs[l + 1]).ptr
    }

    func frozenProduct(_ W: QuantizedMatrix, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int) {
        frozenForward(W, y: y, ldy: Int64(W.rows), x: x, ldx: Int64(W.cols), rows: Int64(rows))
    }

    func loraFactors(_ layer: Int, _ t: LoRATarget) -> LoRAFactors? {
        LoRAFactors(params.ptr, slots: slots, config: lora, layer: layer, target: t, rows: doraRows)
    }

    var doraRows: DoRARows? {
        let b = buffers.doraRows
        guard b.count > 0 else { return nil }
        let n = b.count / 3
        return DoRARows(w0Norm2: b.ptr, norm: b.ptr + n, scale: b.ptr + 2 * n)
    }

    func doraSaved(_ a: LayerActivations, _ t: LoRATarget) -> UnsafeMutablePointer<Float>? { a.doraZ[t]?.ptr }

    func loraU(_ a: LayerActivations, _ t: LoRATarget) -> UnsafeMutablePointer<Float> { a.loraU[t]!.ptr }
    func loraPool(rows: Int) -> OpaquePointer? { pool.raw }

    func kvRows(_ l: Int, _ a: LayerActivations) -> (k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>) {
        (a.k.ptr, a.v.ptr)
    }

    func attend(_ l: Int, _ a: LayerActivations) {
        let c = config
        // bf16 and int8 runs take the bf16 products inside attention (lk_attention_fwd_bf16: fp32 softmax, bf16 operands).
        let attention = precision.usesBF16Products ? lk_attention_fwd_bf16 : lk_attention_fwd
        attention(pool.raw, buffers.attScratch.ptr, a.att.ptr, a.lse.ptr, a.q.ptr, a.k.ptr, a.v.ptr, attentionFirstKeys(l),
                  Int64(B), Int64(S), Int64(c.headCount), Int64(c.headCountKV), Int64(c.headDim), attentionScale)
    }
}
