import CKernels

/// A projection y = x·W0ᵀ + s·(drop(x)·Aᵀ)·Bᵀ: the backward of `LayerRunner.linear` (LlamaLayer.swift), the
/// training graph's frozen products and LoRA dropout.
/// W0 frozen and quantized (products by the dequantizing kernels); A [r, in], B [out, r] fp32, trained.
extension LlamaGraph {
    /// Given dy [T, out]: dx[T, in] (+)= dy·W (+ LoRA path), and accumulates dA, dB into `grads`.
    /// `x` is the layer's saved input, `u` the saved x·Aᵀ. With `needInput == false` dx is not computed.
    func linearBackward(_ t: LoRATarget, layer: Int, x: UnsafeMutablePointer<Float>, dy: UnsafeMutablePointer<Float>,
                        dx: UnsafeMutablePointer<Float>, accumulate: Bool, u: FloatBuffer?, needInput: Bool = true) {
        let W = weights.layers[layer].matrix(t), dU = buffers.dU, dropScratch = buffers.dropScratch
        let out = Int64(W.rows), inF = Int64(W.cols), T64 = Int64(T)
        var dy = dy
        if let f = loraFactors(layer, t), let d = f.dora, let gm = LoRAFactors(grads.ptr, slots: slots, config: lora, layer: layer,
                                                                             target: t)?.dora?.m, let z = doraSaved(activations(layer), t) {
            dy = timed("dora bwd") { doraBackward(d, grad: gm, z: z, dy: dy, out: W.rows) }          // dy ← ∂/∂(x·W0ᵀ + s·u·Bᵀ)
        }
        if needInput {
            timed("frozen bwd_data") {
                frozenBackwardData(W, dx: dx, lddx: inF, dy: dy, lddy: out, rows: T64, accumulate: accumulate)
            }
            if let g = quantGrid, let e = g.slot(layer, t) { timed("grid bwd") { g.backward(e, dy: dy, dx: dx, rows: T, pool: pool.raw) } }
        }
        guard let lora, let f = loraFactors(layer, t), let g = LoRAFactors(grads.ptr, slots: slots, config: lora, layer: layer, target: t),
              let u else { return }
        let r = Int64(f.rank), scale = f.scale
        let A = f.a, Bm = f.b, gA = g.a, gB = g.b
        let t0 = profile != nil ? OpProfile.now() : 0
        defer { profile?.add("lora bwd", seconds: OpProfile.now() - t0) }
        lk_sgemm(pool.raw, 1, 0, out, r, T64, scale, dy, out, u.ptr, r, 1, gB, r)        // dB += s·dyᵀ·u
        lk_sgemm(pool.raw, 0, 0, T64, r, out, scale, dy, out, Bm, r, 0, dU.ptr, r)       // dU = s·dy·B
        let xd = loraInput(x, count: T * W.cols, layer: layer, target: t)
        lk_sgemm(pool.raw, 1, 0, r, inF, T64, 1, dU.ptr, r, xd, inF, 1, gA, inF)         // dA += dUᵀ·drop(x)
        guard needInput else { return }
        if lora.dropout > 0 {
            // dx += drop'(dU·A): the same mask and 1/(1−p) as the forward.
            lk_sgemm(pool.raw, 0, 0, T64, inF, r, 1, dU.ptr, r, A, inF, 0, dropScratch.ptr, inF)
            lk_dropout(dropScratch.ptr, dropScratch.ptr, Int64(T * W.cols), lora.dropout, maskSeed(layer: layer, target: t))
            lk_axpy(pool.raw, dx, 1, dropScratch.ptr, T64 * inF)
        } else {
            lk_sgemm(pool.raw, 0, 0, T64, inF, r, 1, dU.ptr, r, A, inF, 1, dx, inF)       // dx += dU·A
        }
    }

    /// y[rows, out] = x[rows, in]·Wᵀ in the graph's precision.
    func frozenForward(_ W: QuantizedMatrix, y: UnsafeMutablePointer<Float>, ldy: Int64, x: UnsafePointer<Float>, ldx: Int64,
                       rows: Int64) {
        let out = Int64(W.rows), inF = Int64(W.cols), t = lk_type(rawValue: W.type.rawValue)
        W.withUnsafeBytes { w in
            switch productPrecision(W) {
            case .fp32:
                pool.groupBounds.withUnsafeBufferPointer { g in
                    lk_qmatmul_fwd_grouped(pool.raw, qScratch, y, ldy, x, ldx, t, w, out, inF, rows, 0, g.baseAddress, Int32(g.count - 1))
                }
            case .bf16: lk_qmatmul_fwd_bf16(pool.raw, bf16Scratch, y, ldy, x, ldx, t, w, out, inF, rows, 0)
            case .int8: lk_qmatmul_fwd_int8(pool.raw, int8Scratch, y, ldy, x, ldx, t, w, out, inF, rows, 0)
            }
        }
    }

    /// dx[rows, in] (+)= dy[rows, out]·W in the graph's precision.
    func frozenBackwardData(_ W: QuantizedMatrix, dx: UnsafeMutablePointer<Float>, lddx: Int64, dy: UnsafePointer<Float>,
                            lddy: Int64, rows: Int64, accumulate: Bool) {
        let out = Int64(W.rows), inF = Int64(W.cols), t = lk_type(rawValue: W.type.rawValue)
        W.withUnsafeBytes { w in
            switch productPrecision(W, summed: out) {
            case .fp32:
                pool.groupBounds.withUnsafeBufferPointer { g in
                    lk_qmatmul_bwd_data_grouped(pool.raw, qScratch, buffers.groupPartials.count > 0 ? buffers.groupPartials.ptr : nil, dx, lddx, dy, lddy, t, w, out, inF, rows,
                                                accumulate ? 1 : 0, g.baseAddress, Int32(g.count - 1))
                }
            case .bf16: lk_qmatmul_bwd_data_bf16(pool.raw, bf16Scratch, dx, lddx, dy, lddy, t, w, out, inF, rows, accumulate ? 1 : 0)
            case .int8: lk_qmatmul_bwd_data_int8(pool.raw, int8Scratch, dx, lddx, dy, lddy, t, w, out, inF, rows, accumulate ? 1 : 0)
            }
        }
    }

    /// Dropout of the LoRA input, regenerated identically in backward from a per-step seed.
    func loraInput(_ x: UnsafeMutablePointer<Float>, count: Int, layer: Int, target: LoRATarget) -> UnsafeMutablePointer<Float> {
        guard dropoutActive, let lora, lora.dropout > 0 else { return x }   // no dropout at inference or validation
        lk_dropout(buffers.dropScratch.ptr, x, Int64(count), lora.dropout, maskSeed(layer: layer, target: target))
        return buffers.dropScratch.ptr
    }

    private func maskSeed(layer: Int, target: LoRATarget) -> UInt64 {
        SplitMix64.mix(dropoutSeed &+ UInt64(layer * 16 + target.index) &* 0x9E37_79B9_7F4A_7C15)
    }
}
