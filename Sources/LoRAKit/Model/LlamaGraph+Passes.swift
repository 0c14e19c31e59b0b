import CKernels

/// Whole-model passes: embedding → layers → final norm → LM head with the loss computed chunk by
/// chunk (the [T, V] logits are never materialized), and the backward pass to the LoRA factors.
extension LlamaGraph {
    /// Sum of the token losses and the number of scored tokens of one forward pass.
    struct LossSum {
        var sum: Double
        var count: Int
        var mean: Double { count == 0 ? 0 : sum / Double(count) }
    }

    /// Embeds `ids` and runs every layer; leaves the final normed hidden state in `xf`. `afterLayer`: see
    /// `embedAndRunLayers`.
    func forwardHidden(afterLayer: ((Int) -> Void)? = nil) {
        let c = config, b = buffers
        if doraRows != nil {
            timed("dora norms") { updateDoRANorms(slots: slots, scratch: b.doraScratch.ptr, keepNorms: doraNormsFrozen) }
        }
        embedAndRunLayers(afterLayer: afterLayer)
        timed("rmsnorm fwd") {
            lk_rmsnorm_fwd(pool.raw, b.xf.ptr, b.rstdf.ptr, layerOutput(c.blockCount - 1), b.frozen.outputNorm.ptr, Int64(T),
                           Int64(c.embeddingLength), c.rmsNormEps)
        }
    }

    /// Forward pass and loss over the batch's targets. With `backward`, also accumulates the LoRA
    /// gradients of `gradScale · Σ token losses` into `grads`.
    /// `dropout` overrides whether LoRA dropout applies (default: only when `backward`).
    func run(backward: Bool, gradScale: Float, dropout: Bool? = nil) -> LossSum {
        dropoutActive = training && (dropout ?? backward)
        defer { dropoutActive = false }
        forwardHidden()
        let c = config, C = Int64(c.embeddingLength), b = buffers, losses = b.losses, targets = b.targets
        if let P = vocabPanelRows(backward: backward) {
            headLossByPanels(P, backward: backward, gradScale: gradScale)
        } else {
            headLossByRowChunks(backward: backward, gradScale: gradScale)
        }
        var total = LossSum(sum: 0, count: 0)
        for i in 0..<T where targets.ptr[i] >= 0 {
            total.sum += Double(losses.ptr[i])
            total.count += 1
        }
        if backward {
            let L = c.blockCount
            timed("rmsnorm bwd") {
                lk_rmsnorm_bwd(pool.raw, b.dx.ptr, b.dxf.ptr, layerOutput(L - 1), b.frozen.outputNorm.ptr, b.rstdf.ptr, Int64(T), C, 0)
            }
            // Gradients below the lowest adapted layer are not needed.
            let lowest = slots.map(\.layer).min() ?? L
            for l in stride(from: L - 1, through: lowest, by: -1) {
                layerBackward(l, needInputGrad: l > lowest)
            }
        }
        return total
    }

    /// The loss (and with `backward` dL/dxf into `dxf`) a chunk of `chunkRows` rows at a time against the whole head,
    /// the cross-entropy gradient formed in place over the chunk's logits. Writes `losses`.
    func headLossByRowChunks(backward: Bool, gradScale: Float) {
        let V = Int64(config.vocabSize), C = Int64(config.embeddingLength), b = buffers
        let logits = b.logits.ptr, losses = b.losses.ptr, targets = b.targets.ptr
        for t0 in stride(from: 0, to: T, by: chunkRows) {
            let n = min(chunkRows, T - t0)
            timed("frozen head fwd") { headForward(y: logits, ldy: V, x: b.xf.ptr + t0 * Int(C), ldx: C, rows: Int64(n)) }
            if backward {
                timed("cross_entropy") {
                    lk_cross_entropy_fwd_bwd(pool.raw, losses + t0, logits, targets + t0, Int64(n), V, gradScale)
                }
                timed("frozen head bwd_data") {
                    headBackwardData(dx: b.dxf.ptr + t0 * Int(C), lddx: C, dy: logits, lddy: V, rows: Int64(n))
                }
            } else {
                timed("cross_entropy") { lk_cross_entropy_fwd(pool.raw, losses + t0, logits, targets + t0, Int64(n), V) }
            }
        }
    }

    /// Rows of the head per vocabulary panel when the loss should go panel by panel (nil: row chunks). The row
    /// chunks multiply the whole head once per chunk, and each multiplication dequantizes (and in bf16 rounds and
    /// packs) all of it: for heads that are not packed once (checkpointing, or larger than `bf16HeadPackLimit`)
    /// with many chunks — Llama 3's 128k or Gemma 3's 262k vocabulary at seq 2048 makes 64–128 — that packing
    /// is most of the head's time. Panels of P vocabulary rows against all T rows dequantize each part of the head
    /// once per product instead: forward one product, training three (forward, the logits again for the
    /// gradient once every row's log-sum-exp is known, and backward-data), against two products plus
    /// 2·T/chunkRows head dequantizations. Used from four chunks up (two without backward); P fills the
    /// logits buffer ([T, P] ≤ [chunkRows, V]), a multiple of 64, no wider than a layer's widest summed
    /// dimension (so the products' planned scratch covers it).
    func vocabPanelRows(backward: Bool) -> Int? {
        if forceVocabPanels == false { return nil }
        let c = config, V = c.vocabSize
        let packed = precision.usesBF16Products && !bf16Head.isEmpty
        let chunks = (T + chunkRows - 1) / chunkRows
        if forceVocabPanels != true, packed || chunks < (backward ? 4 : 2) { return nil }
        let widest = max(c.embeddingLength, c.feedForwardLength, c.kvDim, c.qDim)
        let P = min(chunkRows * V / T, widest, V) / 64 * 64
        return P >= 64 ? P : nil
    }

    /// The loss (and with `backward` dL/dxf into `dxf`) with the head taken P vocabulary rows at a time against all
    /// T rows: an online log-sum-exp over the panels (`lk_xent_panel_fwd`), then each panel's logits again and
    /// their gradient (`lk_xent_panel_bwd`) times the panel into dxf. Backward visits the panels last first, so
    /// the forward's last logits are reused. Writes `losses`.
    func headLossByPanels(_ P: Int, backward: Bool, gradScale: Float) {
        let c = config, V = c.vocabSize, C = Int64(c.embeddingLength), b = buffers, h = head
        let logits = b.logits.ptr, xf = b.xf.ptr, targets = b.targets.ptr
        let stats = b.headStats.ptr
        let sums = UnsafeMutableRawPointer(stats).bindMemory(to: Double.self, capacity: T)
        let m = stats + 2 * T, z = stats + 3 * T, lse = stats + 4 * T
        sums.update(repeating: 0, count: T)
        m.update(repeating: -.infinity, count: T)
        z.update(repeating: 0, count: T)
        func panel(_ v0: Int) -> QuantizedMatrix {
            QuantizedMatrix(type: h.type, rows: min(P, V - v0), cols: h.cols, storage: h.storage,
                            offset: h.offset + v0 * h.rowBytes)!
        }
        let starts = Array(stride(from: 0, to: V, by: P))
        for v0 in starts {
            let W = panel(v0), w = Int64(W.rows)
            timed("frozen head fwd") { frozenForward(W, y: logits, ldy: w, x: xf, ldx: C, rows: Int64(T)) }
            timed("cross_entropy") {
                lk_xent_panel_fwd(pool.raw, m, sums, z, logits, w, targets, Int64(T), Int64(v0), w, Int64(V))
            }
        }
        lk_xent_panel_finish(b.losses.ptr, lse, m, sums, z, targets, Int64(T), Int64(V))
        guard backward else { return }
        for (i, v0) in starts.reversed().enumerated() {
            let W = panel(v0), w = Int64(W.rows)
            if i > 0 { timed("frozen head fwd") { frozenForward(W, y: logits, ldy: w, x: xf, ldx: C, rows: Int64(T)) } }
            timed("cross_entropy") {
                lk_xent_panel_bwd(pool.raw, logits, w, targets, lse, Int64(T), Int64(v0), w, Int64(V), gradScale)
            }
            timed("frozen head bwd_data") {
                frozenBackwardData(W, dx: b.dxf.ptr, lddx: C, dy: logits, lddy: w, rows: Int64(T), accumulate: i > 0)
            }
        }
    }

    /// Logits [T, V] of the current batch (for tests and generation on small T).
    func computeLogits() -> [Float] {
        forwardHidden()
        let c = config, V = c.vocabSize, C = Int64(c.embeddingLength), logits = buffers.logits, xf = buffers.xf
        var out = [Float](repeating: 0, count: T * V)
        var t0 = 0
        while t0 < T {
            let n = min(chunkRows, T - t0)
            headForward(y: logits.ptr, ldy: Int64(V), x: xf.ptr + t0 * Int(C), ldx: C, rows: Int64(n))
            out.withUnsafeMutableBufferPointer { o in (o.baseAddress! + t0 * V).update(from: logits.ptr, count: n * V) }
            t0 += n
        }
        return out
    }
}
