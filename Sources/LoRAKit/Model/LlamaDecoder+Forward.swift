import CKernels

/// One batched pass of the decoder: n new tokens at positions position ..< position+n, their k and v
/// written into the cache, attention over everything cached so far.
extension LlamaDecoder {
    /// Runs `tokens` (n ≤ maxChunk) and leaves the logits of the last `headRows` rows in logitsBuf ([headRows, V]).
    func forwardChunk(_ tokens: [Int32], headRows: Int) {
        let c = config, n = tokens.count, n64 = Int64(n)
        let C = Int64(c.embeddingLength), kv = c.kvDim, hd = Int64(c.headDim)
        let Hq = Int64(c.headCount), Hkv = Int64(c.headCountKV), F = Int64(c.feedForwardLength)
        ids.copy(from: tokens)
        for t in 0..<n { pos.ptr[t] = Int32(position + t) }
        let E = weights.tokenEmbedding
        E.withUnsafeBytes { e in
            lk_embed_rows(pool.raw, x.ptr, Int32(E.type.rawValue), e, Int64(E.rowBytes), ids.ptr, n64, C)
        }
        let scale = 1 / Float(c.headDim).squareRoot()
        for l in 0..<c.blockCount {
            let kc = kCache[l].ptr, vc = vCache[l].ptr
            let kNew = kc + position * kv, vNew = vc + position * kv
            lk_rmsnorm_fwd(pool.raw, xn.ptr, rstd.ptr, x.ptr, attnNorms[l].ptr, n64, C, c.rmsNormEps)
            linear(.q_proj, layer: l, x: xn.ptr, y: q.ptr, rows: n)
            linear(.k_proj, layer: l, x: xn.ptr, y: kNew, rows: n)
            linear(.v_proj, layer: l, x: xn.ptr, y: vNew, rows: n)
            lk_rope_fwd(pool.raw, q.ptr, pos.ptr, invFreq.ptr, n64, Hq, hd)
            lk_rope_fwd(pool.raw, kNew, pos.ptr, invFreq.ptr, n64, Hkv, hd)
            lk_decode_attention(pool.raw, attScratch.ptr, att.ptr, q.ptr, kc, vc, Int64(position), n64, Hq, Hkv, hd, scale)
            linear(.o_proj, layer: l, x: att.ptr, y: x2.ptr, rows: n)
            lk_axpy(pool.raw, x2.ptr, 1, x.ptr, n64 * C)                                   // x2 = x + o
            lk_rmsnorm_fwd(pool.raw, xn.ptr, rstd.ptr, x2.ptr, ffnNorms[l].ptr, n64, C, c.rmsNormEps)
            linear(.gate_proj, layer: l, x: xn.ptr, y: g.ptr, rows: n)
            linear(.up_proj, layer: l, x: xn.ptr, y: u.ptr, rows: n)
            lk_swiglu_fwd(pool.raw, h.ptr, g.ptr, u.ptr, n64 * F)
            linear(.down_proj, layer: l, x: h.ptr, y: x.ptr, rows: n)
            lk_axpy(pool.raw, x.ptr, 1, x2.ptr, n64 * C)                                   // x = x2 + mlp
        }
        position += n
        guard headRows > 0 else { return }
        let first = n - headRows
        let xs = x.ptr + first * Int(C)
        lk_rmsnorm_fwd(pool.raw, xn.ptr, rstd.ptr, xs, outputNorm.ptr, Int64(headRows), C, c.rmsNormEps)
        product(weights.lmHead, x: xn.ptr, y: logitsBuf.ptr, rows: headRows)
    }

    /// y[rows, out] = x[rows, in]·Wᵀ (+ s·(x·Aᵀ)·Bᵀ when the adapter targets this matrix).
    func linear(_ t: LoRATarget, layer: Int, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int) {
        let W = matrix(layer, t)
        let out = Int64(W.rows), inF = Int64(W.cols), T64 = Int64(rows)
        product(W, x: x, y: y, rows: rows)
        guard let a = adapter, let s = a.slot(layer, t) else { return }
        let r = Int64(a.config.rank)
        let A = a.values.ptr + s.aOffset, Bm = a.values.ptr + s.bOffset
        // A decode step's LoRA products are a few thousand flops: on the calling thread (no pool hand-off).
        let p = rows <= LlamaDecoder.matvecRows ? nil : pool.raw
        lk_sgemm(p, 0, 1, T64, r, inF, 1, x, inF, A, inF, 0, loraU.ptr, r)          // u = x·Aᵀ
        lk_sgemm(p, 0, 1, T64, out, r, a.config.scale, loraU.ptr, r, Bm, r, 1, y, out)   // y += s·u·Bᵀ
    }

    /// y[rows, W.rows] = x[rows, W.cols]·Wᵀ: one pass over the quantized rows for a few rows (decode steps),
    /// the panel-dequantizing matmul for prefill.
    func product(_ W: QuantizedMatrix, x: UnsafeMutablePointer<Float>, y: UnsafeMutablePointer<Float>, rows: Int) {
        let out = Int64(W.rows), inF = Int64(W.cols)
        W.withUnsafeBytes { w in
            if useMatVec && rows <= LlamaDecoder.matvecRows {
                lk_decode_qmatvec(pool.raw, mvScratch.ptr, y, out, x, Int32(W.type.rawValue), w, out, inF, Int64(rows))
            } else {
                lk_qmatmul_fwd(pool.raw, qScratch, y, out, x, inF, lk_type(rawValue: W.type.rawValue), w, out, inF, Int64(rows), 0)
            }
        }
    }

    func matrix(_ layer: Int, _ t: LoRATarget) -> QuantizedMatrix {
        let w = weights.layers[layer]
        switch t {
        case .q_proj: return w.q
        case .k_proj: return w.k
        case .v_proj: return w.v
        case .o_proj: return w.o
        case .gate_proj: return w.gate
        case .up_proj: return w.up
        case .down_proj: return w.down
        }
    }
}
