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
        let c = config, V = Int64(c.vocabSize), C = Int64(c.embeddingLength), b = buffers
        let logits = b.logits, xf = b.xf, losses = b.losses, targets = b.targets, dxf = b.dxf
        var total = LossSum(sum: 0, count: 0)
        var t0 = 0
        while t0 < T {
            let n = min(chunkRows, T - t0)
            timed("frozen head fwd") {
                headForward(y: logits.ptr, ldy: V, x: xf.ptr + t0 * Int(C), ldx: C, rows: Int64(n))
            }
            if backward {
                timed("cross_entropy") {
                    lk_cross_entropy_fwd_bwd(pool.raw, losses.ptr + t0, logits.ptr, targets.ptr + t0, Int64(n), V, gradScale)
                }
                timed("frozen head bwd_data") {
                    headBackwardData(dx: dxf.ptr + t0 * Int(C), lddx: C, dy: logits.ptr, lddy: V, rows: Int64(n))
                }
            } else {
                timed("cross_entropy") {
                    lk_cross_entropy_fwd(pool.raw, losses.ptr + t0, logits.ptr, targets.ptr + t0, Int64(n), V)
                }
            }
            for i in t0..<(t0 + n) where targets.ptr[i] >= 0 {
                total.sum += Double(losses.ptr[i])
                total.count += 1
            }
            t0 += n
        }
        if backward {
            let L = c.blockCount
            timed("rmsnorm bwd") {
                lk_rmsnorm_bwd(pool.raw, b.dx.ptr, dxf.ptr, layerOutput(L - 1), b.frozen.outputNorm.ptr, b.rstdf.ptr, Int64(T), C, 0)
            }
            // Gradients below the lowest adapted layer are not needed.
            let lowest = slots.map(\.layer).min() ?? L
            for l in stride(from: L - 1, through: lowest, by: -1) {
                layerBackward(l, needInputGrad: l > lowest)
            }
        }
        return total
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
