import CKernels

/// DoRA (weight-decomposed LoRA, PEFT `use_dora`): each adapted projection becomes
///
///     y = g ⊙ (x·W0ᵀ + s·(x·Aᵀ)·Bᵀ),   g = m / ‖W0 + s·B·A‖ (per output row, the norm detached)
///
/// with m [out] trained. PEFT computes (g − 1)·(x·W0ᵀ) + g·s·(x·Aᵀ)·Bᵀ and adds it to x·W0ᵀ: the same value.
/// The row norm comes without W0 in fp32: ‖W0 + s·B·A‖²_j = ‖W0_j‖² (cached) + 2s·Σ_k B[j,k]·(A·W0ᵀ)[k,j]
/// + s²·(B·(A·Aᵀ)·Bᵀ)_jj, one frozen product of A's r rows per slot and update.
/// Forward (`doraForward`) and backward (`LlamaGraph.doraBackward`) are side by side below.

/// The per-row DoRA values of a runner, indexed by a slot's `rowOffset`. [rows] each
struct DoRARows {
    /// ‖W0 row‖², from the rows as stored (exactly dequantized); constant.
    let w0Norm2: UnsafeMutablePointer<Float>
    /// ‖W0 + s·B·A‖ per row, for the current parameters.
    let norm: UnsafeMutablePointer<Float>
    /// m / norm.
    let scale: UnsafeMutablePointer<Float>
}

/// One slot's DoRA pointers.
struct DoRASlotValues {
    /// Magnitude m (or its gradient) [out].
    let m: UnsafeMutablePointer<Float>
    /// ‖W0 + s·B·A‖ and m/‖·‖ of the slot's rows (nil in a gradient view). [out]
    let norm: UnsafeMutablePointer<Float>?
    let scale: UnsafeMutablePointer<Float>?
}

extension QuantizedMatrix {
    /// ‖row‖² of every row, from the exactly dequantized values (fp64 sums). [rows]
    func rowSquaredNorms() -> [Double] {
        var row = [Float](repeating: 0, count: cols)
        var out = [Double](repeating: 0, count: rows)
        withUnsafeBytes { base in
            row.withUnsafeMutableBufferPointer { r in
                for i in 0..<rows {
                    lk_dequantize_row(type.lk, r.baseAddress!, base + i * rowBytes, Int64(cols))
                    out[i] = lk_sum_squares(r.baseAddress!, Int64(cols))
                }
            }
        }
        return out
    }
}

extension DoRARows {
    /// Floats of the scratch `LayerRunner.updateDoRANorms` needs for `config` on `model`: [r, out] + [out, r] + [r, r].
    static func scratchFloats(_ config: LoRAConfig, model: LlamaConfig) -> Int {
        let maxOut = config.targets.map { $0.shape(model).out }.max() ?? 0
        return 2 * config.rank * maxOut + config.rank * config.rank
    }

    /// Fills `w0Norm2` for every DoRA slot of `slots` from `weights`.
    func loadBaseNorms(_ weights: ModelWeights, slots: [LoRASlot]) {
        for s in slots {
            guard let ro = s.rowOffset else { continue }
            let n2 = weights.layers[s.layer].matrix(s.target).rowSquaredNorms()
            for j in 0..<s.outFeatures { w0Norm2[ro + j] = Float(n2[j]) }
        }
    }
}

extension LayerRunner {
    /// Recomputes ‖W0 + s·B·A‖ and m/‖·‖ of every DoRA slot from the factors `loraFactors` sees.
    /// `scratch`: `DoRARows.scratchFloats` floats. With `keepNorms` only m/‖·‖ is recomputed (the norms held).
    func updateDoRANorms(slots: [LoRASlot], scratch: UnsafeMutablePointer<Float>, keepNorms: Bool = false) {
        for s in slots where s.magnitudeOffset != nil {
            guard let f = loraFactors(s.layer, s.target), let d = f.dora, let norm = d.norm, let scale = d.scale,
                  let ro = s.rowOffset, let rows = doraRows else { continue }
            if keepNorms {
                for j in 0..<s.outFeatures { scale[j] = d.m[j] / norm[j] }
                continue
            }
            let W = weights.layers[s.layer].matrix(s.target), r = f.rank, out = s.outFeatures, inF = s.inFeatures
            let P = scratch, M = scratch + r * out, G = M + out * r
            frozenProduct(W, x: f.a, y: P, rows: r)                                                      // P = A·W0ᵀ [r, out]
            lk_sgemm(nil, 0, 1, Int64(r), Int64(r), Int64(inF), 1, f.a, Int64(inF), f.a, Int64(inF), 0, G, Int64(r))  // G = A·Aᵀ
            lk_sgemm(nil, 0, 0, Int64(out), Int64(r), Int64(r), 1, f.b, Int64(r), G, Int64(r), 0, M, Int64(r))       // M = B·G
            let sc = Double(f.scale), w0 = rows.w0Norm2 + ro
            for j in 0..<out {
                var cross = 0.0, sq = 0.0
                for k in 0..<r {
                    let b = Double(f.b[j * r + k])
                    cross += b * Double(P[k * out + j])
                    sq += b * Double(M[j * r + k])
                }
                let n = (Double(w0[j]) + 2 * sc * cross + sc * sc * sq).squareRoot()
                norm[j] = Float(n)
                scale[j] = d.m[j] / Float(n)
            }
        }
    }

    /// DoRA's part of `linear`: y[rows, out] ← g ⊙ y per output column, keeping the unscaled y in `save` (training).
    func doraForward(_ d: DoRASlotValues, y: UnsafeMutablePointer<Float>, rows: Int, out: Int, save: UnsafeMutablePointer<Float>?) {
        guard let g = d.scale else { return }
        if let save { save.update(from: y, count: rows * out) }
        for t in 0..<rows {
            let row = y + t * out
            for j in 0..<out { row[j] *= g[j] }
        }
    }
}

extension LlamaGraph {
    /// Backward of `doraForward`: given dy [T, out] of y = g ⊙ z (z saved), accumulates dm += Σ_t dy·z / ‖W‖
    /// (the norm is detached, so m is the only path) and returns dz = g ⊙ dy (in `buffers.doraDy`) for the rest of
    /// the linear's backward.
    func doraBackward(_ d: DoRASlotValues, grad gm: UnsafeMutablePointer<Float>, z: UnsafeMutablePointer<Float>,
                      dy: UnsafeMutablePointer<Float>, out: Int) -> UnsafeMutablePointer<Float> {
        guard let g = d.scale, let norm = d.norm else { return dy }
        let dz = buffers.doraDy.ptr, acc = buffers.doraRowAcc.ptr
        acc.update(repeating: 0, count: out)
        for t in 0..<T {
            let dyr = dy + t * out, zr = z + t * out, dzr = dz + t * out
            for j in 0..<out {
                acc[j] += dyr[j] * zr[j]
                dzr[j] = dyr[j] * g[j]
            }
        }
        for j in 0..<out { gm[j] += acc[j] / norm[j] }
        return dz
    }
}
