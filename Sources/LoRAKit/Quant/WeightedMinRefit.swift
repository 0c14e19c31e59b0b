import Foundation

/// The in-place Q4_K/Q5_K min refit of one row weighted by how the matrix's input uses each sub-block (GPTQ's idea,
/// applied to the offsets).
///
/// A quant-aware change is constant over each 32-column group g, and the refit leaves an offset error e_g per group
/// (`QuantOffsetMerge.fitMins` puts each wanted offset on the super-block's grid dmin'·{0…63}). Row o's output then
/// moves by Σ_g e_g·s_g with s_g = Σ_{i∈g} x_i, so the expected squared output error is eᵀHe with H = E[s sᵀ] over
/// calibration inputs. Per row:
/// 1. each super-block's dmin' is fitted with the weights H_gg (`fitMins`);
/// 2. the mins are rounded group by group, each rounding error pushed onto the row's later groups through the upper
///    Cholesky factor U of (H + λI)⁻¹ (GPTQ's update, λ = 1% of H's mean diagonal);
/// 3. coordinate descent: any single min ±1 that lowers eᵀHe is taken, until none does (at most `passes` sweeps).
/// The row keeps the best of that and of the unweighted refit (also descended), so its eᵀHe never exceeds the
/// unweighted refit's. With H diagonal no error is pushed and no move helps: with H = I the result is the unweighted
/// refit's bit for bit.
struct WeightedMinRefit {
    let groups: Int
    /// H, symmetrized, [groups, groups] row-major.
    let H: [Double]
    /// Upper Cholesky factor of (H + λI)⁻¹, row-major.
    let U: [Double]
    static let passes = 8

    /// Nil when `moments` is not [groups, groups], not finite, or not positive semi-definite enough to factor.
    init?(moments: [Double], groups G: Int) {
        guard G > 0, G % 8 == 0, moments.count == G * G, moments.allSatisfy({ $0.isFinite }) else { return nil }
        var h = [Double](repeating: 0, count: G * G)
        for i in 0..<G { for j in 0..<G { h[i * G + j] = 0.5 * (moments[i * G + j] + moments[j * G + i]) } }
        let meanDiag = (0..<G).reduce(0.0) { $0 + h[$1 * G + $1] } / Double(G)
        let damp = meanDiag > 0 ? 0.01 * meanDiag : 1
        var hd = h
        for i in 0..<G { hd[i * G + i] += damp }
        guard let L = Self.cholesky(hd, G), let inv = Self.inverse(fromCholesky: L, G), let Li = Self.cholesky(inv, G) else { return nil }
        var u = [Double](repeating: 0, count: G * G)
        for i in 0..<G { for j in i..<G { u[i * G + j] = Li[j * G + i] } }
        groups = G; H = h; U = u
    }

    /// Refits the mins of the row's super-blocks at `row` (each `blockBytes` long, Q4_K/Q5_K) so the offsets take
    /// `delta` [groups] (the value added to every column of each group). Scales, codes and d stay. Of three starts —
    /// the unweighted refit, the H_gg-weighted one, and the weighted dmin' with GPTQ's rounding — each improved by
    /// coordinate descent, the row keeps the one of least eᵀHe (so never more than the unweighted refit's).
    func refitRow(_ row: UnsafeMutableRawPointer, blockBytes bs: Int, delta: [Float]) {
        let G = groups, nb = G / 8
        var sc = [[UInt8]](repeating: [], count: nb)
        var want = [Float](repeating: 0, count: G)
        var Du = [Float](repeating: 0, count: G), ku = [Float](repeating: 0, count: G)
        var Dw = [Float](repeating: 0, count: G), kw = [Float](repeating: 0, count: G)
        for b in 0..<nb {
            let blk = row + b * bs, dmin = QuantOffsetMerge.half(blk + 2)
            var s = [UInt8](repeating: 0, count: 8), m = [UInt8](repeating: 0, count: 8)
            for j in 0..<8 { (s[j], m[j]) = QuantOffsetMerge.scaleMin(j, blk + 4) }
            sc[b] = s
            for j in 0..<8 { want[8 * b + j] = dmin * Float(m[j]) - delta[8 * b + j] }
            let wb = Array(want[(8 * b)..<(8 * b + 8)])
            let (ub, um) = QuantOffsetMerge.fitMins(wb, start: dmin)
            let (vb, vm) = QuantOffsetMerge.fitMins(wb, start: dmin, weights: (0..<8).map { Float(H[(8 * b + $0) * G + 8 * b + $0]) })
            for j in 0..<8 {
                Du[8 * b + j] = Float(Float16(bitPattern: ub)); ku[8 * b + j] = Float(um[j])
                Dw[8 * b + j] = Float(Float16(bitPattern: vb)); kw[8 * b + j] = Float(vm[j])
            }
        }
        var kg = kw
        roundWithFeedback(want: want, D: Dw, k: &kg)
        var best: (D: [Float], k: [Float], err: Double)?
        for (D, start) in [(Du, ku), (Dw, kw), (Dw, kg)] {
            var k = start
            let err = descend(want: want, D: D, k: &k)
            if best == nil || err < best!.err { best = (D, k, err) }
        }
        let (D, k, _) = best!
        for b in 0..<nb {
            let blk = row + b * bs
            blk.advanced(by: 2).storeBytes(of: Float16(D[8 * b]).bitPattern.littleEndian, as: UInt16.self)
            QuantOffsetMerge.packScales(sc[b], (0..<8).map { UInt8(k[8 * b + $0]) }, blk + 4)
        }
    }

    /// GPTQ over the row's groups: k_g = nearest min of the running target, whose error moves the later targets.
    func roundWithFeedback(want: [Float], D: [Float], k: inout [Float]) {
        let G = groups
        var w = want.map(Double.init)
        for g in 0..<G {
            k[g] = QuantOffsetMerge.roundMin(Float(w[g]), D[g])
            let err = (w[g] - Double(D[g]) * Double(k[g])) / U[g * G + g]
            if err == 0 { continue }
            for h in (g + 1)..<G { w[h] -= err * U[g * G + h] }
        }
    }

    /// Single-min moves that lower eᵀHe (e_g = D_g·k_g − want_g), sweep after sweep; returns the final eᵀHe.
    @discardableResult
    func descend(want: [Float], D: [Float], k: inout [Float]) -> Double {
        let G = groups
        var e = (0..<G).map { Double(D[$0]) * Double(k[$0]) - Double(want[$0]) }
        var He = [Double](repeating: 0, count: G)
        for i in 0..<G { for j in 0..<G { He[i] += H[i * G + j] * e[j] } }
        for _ in 0..<Self.passes {
            var moved = false
            for g in 0..<G {
                for step: Float in [1, -1] {
                    let kn = k[g] + step
                    guard kn >= 0, kn <= 63 else { continue }
                    let de = Double(step) * Double(D[g]), hgg = H[g * G + g]
                    let gain = 2 * de * He[g] + de * de * hgg
                    guard gain < -1e-12 * de * de * max(hgg, 1e-300) else { continue }
                    k[g] = kn
                    e[g] += de
                    for i in 0..<G { He[i] += de * H[i * G + g] }
                    moved = true
                    break
                }
            }
            if !moved { break }
        }
        return (0..<G).reduce(0.0) { $0 + e[$1] * He[$1] }
    }

    /// Lower Cholesky factor L (A = L·Lᵀ) of a symmetric [n, n] matrix; nil when not positive definite.
    static func cholesky(_ a: [Double], _ n: Int) -> [Double]? {
        var L = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i * n + j]
                for p in 0..<j { s -= L[i * n + p] * L[j * n + p] }
                if i == j {
                    guard s > 0, s.isFinite else { return nil }
                    L[i * n + i] = s.squareRoot()
                } else {
                    L[i * n + j] = s / L[j * n + j]
                }
            }
        }
        return L
    }

    /// A⁻¹ from A's lower Cholesky factor L: (L⁻¹)ᵀ·L⁻¹.
    static func inverse(fromCholesky L: [Double], _ n: Int) -> [Double]? {
        var Li = [Double](repeating: 0, count: n * n)                  // L⁻¹, lower
        for j in 0..<n {
            Li[j * n + j] = 1 / L[j * n + j]
            for i in (j + 1)..<n {
                var s = 0.0
                for p in j..<i { s -= L[i * n + p] * Li[p * n + j] }
                Li[i * n + j] = s / L[i * n + i]
            }
        }
        var inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in 0...i {
                var s = 0.0
                for p in i..<n { s += Li[p * n + i] * Li[p * n + j] }
                inv[i * n + j] = s; inv[j * n + i] = s
            }
        }
        return inv.allSatisfy { $0.isFinite } ? inv : nil
    }
}
