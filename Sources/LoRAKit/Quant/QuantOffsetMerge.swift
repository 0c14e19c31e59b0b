import Foundation

/// Adds a change that is constant inside each 32-column group of a row (a quant-aware adapter's ΔW,
/// `QuantAwareLoRA.groupDelta`) to a quantized matrix by editing the blocks' offsets, keeping every code:
///
/// - Q4_1 / Q5_1 (x = d·q + m): m ← fp16(m + Δ). Exact up to the fp16 rounding of the new m.
/// - Q4_0 / Q5_0 (x = d·(q − 8|16), no offset) become Q4_1 / Q5_1 with m = fp16(−8d|−16d + Δ): the same codes, exact
///   up to that rounding; the blocks grow from 18 to 20 (22 to 24) bytes.
/// - Q4_K / Q5_K (x = d·sc_j·q − dmin·m_j, m_j 6-bit per 32-wide sub-block, one fp16 dmin per 256): the wanted
///   offsets −dmin·m_j + Δ_j are refitted — a new dmin' and new m'_j ∈ 0…63 minimizing Σ_j (dmin'·m'_j − wanted)²
///   (`fitMins`). Not exact: each sub-block's offset is off by at most about dmin'/2 (the 6-bit grid), which the
///   merge report measures.
/// - Q4_K / Q5_K → Q4_1 / Q5_1: every sub-block becomes one Q4_1/Q5_1 block with d = fp16(d·sc_j), the same codes and
///   m = fp16(−dmin·m_j + Δ_j): exact up to those two fp16 roundings, at 5.0 (6.0) instead of 4.5 (5.5) bits per weight.
///
/// Other types (Q8_0, Q6_K, floats) have no offset to edit: the merge requantizes them as for plain LoRA.
public enum QuantOffsetMerge {
    /// The type a base of `type` has after an offset merge, or nil when the type has no offset to edit.
    public static func offsetType(for type: GGMLType) -> GGMLType? {
        switch type {
        case .q4_0, .q4_1: return .q4_1
        case .q5_0, .q5_1: return .q5_1
        case .q4_K: return .q4_K
        case .q5_K: return .q5_K
        default: return nil
        }
    }

    /// Whether a `from` base can take a group-constant change in its offsets when stored as `to`.
    public static func canMerge(from: GGMLType, to: GGMLType) -> Bool {
        offsetType(for: from) == to || ([.q4_K, .q5_K].contains(from) && offsetType(for: from == .q4_K ? .q4_0 : .q5_0) == to)
    }

    /// `base` with `delta` [rows, cols/32] (the value added to every column of group g in row o) written into its
    /// offsets, as `type` (default `offsetType(for: base.type)`; Q4_K/Q5_K may also go to Q4_1/Q5_1). Nil when
    /// `canMerge(from: base.type, to: type)` is false, `delta` is not [rows, cols/32] or `groupMoments` is not
    /// [cols/32, cols/32].
    ///
    /// `groupMoments` (used only by the in-place Q4_K/Q5_K refit): H = E[s sᵀ] of the matrix input's group sums
    /// s_g = Σ_{i∈g} x_i over calibration tokens, row-major. A row's output error is Σ_g e_g·s_g for offset errors e_g,
    /// so the refit then minimizes eᵀHe instead of Σe² (`WeightedMinRefit`); nil keeps the unweighted refit.
    /// `onGrid` (a grid-exact quant-aware adapter, `QuantGridLoRA`): Q4_K/Q5_K in place keep dmin and write the rounded
    /// mins `MinGrid.roundedMin`, the rounding training used (no refit; `groupMoments` is not used).
    public static func merge(_ base: QuantizedMatrix, delta: [Float], as type: GGMLType? = nil,
                             groupMoments: [Double]? = nil, onGrid: Bool = false) -> QuantizedMatrix? {
        guard let outType = type ?? offsetType(for: base.type), canMerge(from: base.type, to: outType),
              let outRow = outType.rowBytes(base.cols) else { return nil }
        let groups = base.cols / 32, inRow = base.rowBytes
        guard delta.count == base.rows * groups else { return nil }
        var weighted: WeightedMinRefit?
        if let H = groupMoments, [.q4_K, .q5_K].contains(base.type), outType == base.type {
            guard let w = WeightedMinRefit(moments: H, groups: groups) else { return nil }
            weighted = w
        }
        let storage = ByteStorage.allocate(count: outRow * base.rows) { dst in
            base.withUnsafeBytes { src in
                for r in 0..<base.rows {
                    let s = src + r * inRow, d = dst + r * outRow, dl = Array(delta[(r * groups)..<((r + 1) * groups)])
                    switch base.type {
                    case .q4_1, .q5_1:
                        let bs = base.type.blockBytes
                        d.copyMemory(from: s, byteCount: inRow)
                        for g in 0..<groups { addHalf(d + g * bs + 2, dl[g]) }
                    case .q4_0, .q5_0:
                        let ib = base.type.blockBytes, ob = outType.blockBytes, bias: Float = base.type == .q4_0 ? -8 : -16
                        for g in 0..<groups {
                            let sb = s + g * ib, db = d + g * ob
                            let dd = half(sb)
                            db.copyMemory(from: sb, byteCount: 2)                       // d
                            setHalf(db + 2, bias * dd + dl[g])                         // m
                            (db + 4).copyMemory(from: sb + 2, byteCount: ib - 2)       // (qh,) qs
                        }
                    case .q4_K, .q5_K:
                        let bs = base.type.blockBytes
                        if outType != base.type {
                            for b in 0..<(groups / 8) {
                                transcodeK(s + b * bs, five: base.type == .q5_K, d + b * 8 * outType.blockBytes, Array(dl[(8 * b)..<(8 * b + 8)]))
                            }
                        } else {
                            d.copyMemory(from: s, byteCount: inRow)
                            if onGrid {
                                MinGrid.applyRow(d, blockBytes: bs, delta: dl)
                            } else if let weighted {
                                weighted.refitRow(d, blockBytes: bs, delta: dl)
                            } else {
                                for b in 0..<(groups / 8) { refitMins(d + b * bs, Array(dl[(8 * b)..<(8 * b + 8)])) }
                            }
                        }
                    default: break
                    }
                }
            }
        }
        return QuantizedMatrix(type: outType, rows: base.rows, cols: base.cols, storage: storage, offset: 0)
    }

    /// One Q4_K/Q5_K super-block: offsets −dmin·m_j + Δ_j refitted into (dmin', m'_j); d and sc_j unchanged.
    static func refitMins(_ block: UnsafeMutableRawPointer, _ delta: [Float]) {
        let dmin = half(block + 2)
        let q = block + 4
        var sc = [UInt8](repeating: 0, count: 8), m = [UInt8](repeating: 0, count: 8)
        for j in 0..<8 { (sc[j], m[j]) = scaleMin(j, q) }
        // Wanted: dmin'·m'_j = dmin·m_j − Δ_j (the value's offset is −dmin·m_j).
        let want = (0..<8).map { dmin * Float(m[$0]) - delta[$0] }
        let (bits, mins) = fitMins(want, start: dmin)
        block.advanced(by: 2).storeBytes(of: bits.littleEndian, as: UInt16.self)
        packScales(sc, mins, q)
    }

    /// One Q4_K/Q5_K super-block as eight Q4_1/Q5_1 blocks (d = d·sc_j, m = −dmin·m_j + Δ_j, the same codes).
    static func transcodeK(_ src: UnsafeRawPointer, five: Bool, _ dst: UnsafeMutableRawPointer, _ delta: [Float]) {
        let d = half(src), dmin = half(src + 2)
        let scales = UnsafeMutableRawPointer(mutating: src + 4)
        let qh = (src + 16).assumingMemoryBound(to: UInt8.self)                 // Q5_K only
        let qs = (src + (five ? 48 : 16)).assumingMemoryBound(to: UInt8.self)
        let ob = five ? 24 : 20
        var codes = [UInt8](repeating: 0, count: 32)
        for j in 0..<8 {
            let (sc, m) = scaleMin(j, scales)
            let pair = j / 2, high = j % 2 == 1
            for l in 0..<32 {
                let byte = qs[32 * pair + l]
                var c = high ? byte >> 4 : byte & 0xF
                if five, qh[l] & (UInt8(1) << UInt8(j)) != 0 { c |= 16 }
                codes[l] = c
            }
            let o = dst + j * ob
            setHalf(o, d * Float(sc))
            setHalf(o + 2, -dmin * Float(m) + delta[j])
            let q = (o + (five ? 8 : 4)).assumingMemoryBound(to: UInt8.self)
            var bits: UInt32 = 0
            for i in 0..<16 {
                q[i] = (codes[i] & 0xF) | ((codes[i + 16] & 0xF) << 4)
                if codes[i] & 16 != 0 { bits |= 1 << UInt32(i) }
                if codes[i + 16] & 16 != 0 { bits |= 1 << UInt32(i + 16) }
            }
            if five { (o + 4).storeBytes(of: bits.littleEndian, as: UInt32.self) }
        }
    }

    /// The fp16 scale D and 6-bit m_j minimizing Σ_j w_j·(D·m_j − want_j)² (w_j = `weights`, default 1): candidates
    /// are `start` and every want_j / k (k = 1…63, either sign) with D at least max|want|/63.5 in magnitude (smaller
    /// ones clamp the largest offset), each rounded to fp16, plus the weighted least-squares D of the best
    /// candidate's m_j.
    static func fitMins(_ want: [Float], start: Float, weights: [Float]? = nil) -> (bits: UInt16, mins: [UInt8]) {
        func evaluate(_ D: Float) -> (Float, [UInt8]) {
            var err: Float = 0
            var ms = [UInt8](repeating: 0, count: want.count)
            for j in want.indices {
                let k = roundMin(want[j], D)
                ms[j] = UInt8(k)
                let e = D * k - want[j]
                err += (weights?[j] ?? 1) * e * e
            }
            return (err, ms)
        }
        var bestD = Float(Float16(start)), (bestErr, bestM) = evaluate(bestD)
        func consider(_ raw: Float) {
            let D = Float(Float16(raw))
            guard D.isFinite, D != 0 else { return }
            let (e, ms) = evaluate(D)
            if e < bestErr { bestErr = e; bestD = D; bestM = ms }
        }
        let top = want.map(abs).max() ?? 0
        if top > 0 && bestErr > 0 {
            let floor = top / 63.5
            for w in want where abs(w) >= floor {
                for k in 1...63 where abs(w) / Float(k) >= floor { consider(w / Float(k)) }
            }
            var num: Float = 0, den: Float = 0
            for j in want.indices {
                let w = weights?[j] ?? 1
                num += w * want[j] * Float(bestM[j]); den += w * Float(bestM[j]) * Float(bestM[j])
            }
            if den > 0 { consider(num / den) }
        }
        return (Float16(bestD).bitPattern, bestM)
    }

    /// The 6-bit min nearest to want / D (0 when D is 0).
    static func roundMin(_ want: Float, _ D: Float) -> Float { D == 0 ? 0 : min(63, max(0, (want / D).rounded())) }

    /// ggml's `get_scale_min_k4`: the 6-bit scale and min of sub-block j from the 12 packed bytes.
    static func scaleMin(_ j: Int, _ q: UnsafeMutableRawPointer) -> (UInt8, UInt8) {
        let b = q.assumingMemoryBound(to: UInt8.self)
        if j < 4 { return (b[j] & 63, b[j + 4] & 63) }
        return ((b[j + 4] & 0xF) | ((b[j - 4] >> 6) << 4), (b[j + 4] >> 4) | ((b[j] >> 6) << 4))
    }

    /// The packing of `quantize_row_q4_K_ref`.
    static func packScales(_ sc: [UInt8], _ m: [UInt8], _ q: UnsafeMutableRawPointer) {
        let b = q.assumingMemoryBound(to: UInt8.self)
        for i in 0..<12 { b[i] = 0 }
        for j in 0..<8 {
            if j < 4 {
                b[j] = sc[j]; b[j + 4] = m[j]
            } else {
                b[j + 4] = (sc[j] & 0xF) | ((m[j] & 0xF) << 4)
                b[j - 4] |= (sc[j] >> 4) << 6
                b[j] |= (m[j] >> 4) << 6
            }
        }
    }

    static func half(_ p: UnsafeRawPointer) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(as: UInt16.self))))
    }

    static func setHalf(_ p: UnsafeMutableRawPointer, _ v: Float) {
        p.storeBytes(of: Float16(v).bitPattern.littleEndian, as: UInt16.self)
    }

    static func addHalf(_ p: UnsafeMutableRawPointer, _ v: Float) { setHalf(p, half(p) + v) }
}
