import CKernels
import XCTest

/// RoPE on GGUF (interleaved) rows: inv_freq against the formula, the forward against HF's rotate_half applied to
/// the un-permuted (HF) layout, backward as the exact inverse and adjoint, and threaded == reference bitwise.
final class OpsRopeTests: XCTestCase {
    func testInvFreqFormulaAndFactors() {
        for hd in [8, 64, 128] {
            var f = [Float](repeating: 0, count: hd / 2)
            lk_rope_inv_freq(&f, Int64(hd), 500_000, nil)
            for i in 0..<(hd / 2) {
                XCTAssertEqual(Double(f[i]), pow(500_000.0, -Double(2 * i) / Double(hd)), accuracy: 3e-7 * Double(f[i]))
            }
            let factors = (0..<(hd / 2)).map { Float(1 + $0 % 5) * 1.5 }
            var g = f
            lk_rope_inv_freq(&g, Int64(hd), 500_000, factors)
            for i in 0..<(hd / 2) { XCTAssertEqual(g[i], f[i] / factors[i], accuracy: 1e-6 * f[i]) }
        }
    }

    func testForwardMatchesHFRotateHalfOnPermutedRows() {
        var rng = SplitMix64(seed: 21)
        let T = 5, H = 3, hd = 16, half = hd / 2
        var inv = [Float](repeating: 0, count: half)
        lk_rope_inv_freq(&inv, Int64(hd), 10_000, nil)
        let pos: [Int32] = [0, 1, 7, 300, 4095]
        let hf = opsRandom(T * H * hd, &rng) // HF layout: per head, halves [0, hd/2) and [hd/2, hd)
        // GGUF permutation: gguf[h*hd + 2i + j] = hf[h*hd + j*hd/2 + i].
        var gguf = hf
        for t in 0..<T {
            for h in 0..<H {
                for i in 0..<half {
                    for j in 0..<2 { gguf[t * H * hd + h * hd + 2 * i + j] = hf[t * H * hd + h * hd + j * half + i] }
                }
            }
        }
        var got = gguf
        lk_rope_fwd_ref(&got, pos, inv, Int64(T), Int64(H), Int64(hd))
        for t in 0..<T {
            for h in 0..<H {
                let base = t * H * hd + h * hd
                for i in 0..<half {
                    let a = Double(Float(pos[t]) * inv[i])
                    let x0 = Double(hf[base + i]), x1 = Double(hf[base + half + i])
                    // HF: q*cos + rotate_half(q)*sin, rotate_half(q) = cat(-q2, q1).
                    let y0 = x0 * cos(a) - x1 * sin(a), y1 = x1 * cos(a) + x0 * sin(a)
                    XCTAssertEqual(Double(got[base + 2 * i]), y0, accuracy: 1e-6)
                    XCTAssertEqual(Double(got[base + 2 * i + 1]), y1, accuracy: 1e-6)
                }
            }
        }
    }

    func testThreadedEqualsReferenceAndBackwardIsInverseAndAdjoint() throws {
        var rng = SplitMix64(seed: 22)
        let pool = opsMakePool(2)
        defer { opsDestroyPool(pool) }
        for (T, H, hd) in [(1, 1, 2), (7, 3, 18), (33, 9, 64), (20, 4, 128), (9, 2, 160)] {
            var inv = [Float](repeating: 0, count: hd / 2)
            let factors = (0..<(hd / 2)).map { _ in 1 + rng.nextFloat() * 7 }
            lk_rope_inv_freq(&inv, Int64(hd), 500_000, factors)
            let pos = (0..<T).map { _ in Int32(rng.next() % 8192) }
            let x = opsRandom(T * H * hd, &rng), y = opsRandom(T * H * hd, &rng)
            checkThreadedInverseAdjoint(.interleaved, x: x, y: y, pos: pos, inv: inv, T: T, H: H, hd: hd, pool: pool)
        }
    }

    enum Pairing { case interleaved, neox }

    /// Threaded == reference bitwise (forward and backward), backward ∘ forward = identity, and
    /// <R x, y> == <x, Rᵀ y> (the backward is the transpose of the forward).
    func checkThreadedInverseAdjoint(_ k: Pairing, x: [Float], y: [Float], pos: [Int32], inv: [Float], T: Int, H: Int,
                                     hd: Int, pool: OpaquePointer?) {
        typealias Rope = (OpaquePointer?, UnsafeMutablePointer<Float>, UnsafePointer<Int32>, UnsafePointer<Float>, Int64, Int64, Int64) -> Void
        typealias RopeRef = (UnsafeMutablePointer<Float>, UnsafePointer<Int32>, UnsafePointer<Float>, Int64, Int64, Int64) -> Void
        let (fwd, bwd, fwdRef, bwdRef): (Rope, Rope, RopeRef, RopeRef) = k == .interleaved
            ? (lk_rope_fwd, lk_rope_bwd, lk_rope_fwd_ref, lk_rope_bwd_ref)
            : (lk_rope_neox_fwd, lk_rope_neox_bwd, lk_rope_neox_fwd_ref, lk_rope_neox_bwd_ref)
        var ref = x
        fwdRef(&ref, pos, inv, Int64(T), Int64(H), Int64(hd))
        for p in [nil, pool] {
            var a = x
            fwd(p, &a, pos, inv, Int64(T), Int64(H), Int64(hd))
            XCTAssertEqual(a, ref, "\(k) T=\(T) H=\(H) hd=\(hd)")
            bwd(p, &a, pos, inv, Int64(T), Int64(H), Int64(hd))
            XCTAssertLessThanOrEqual(opsRelErr(a, x), 1e-6)
            var b = y, bRef = y
            bwd(p, &b, pos, inv, Int64(T), Int64(H), Int64(hd))
            bwdRef(&bRef, pos, inv, Int64(T), Int64(H), Int64(hd))
            XCTAssertEqual(b, bRef)
            XCTAssertEqual(opsDot(ref, y), opsDot(x, b), accuracy: 1e-5 * Double(x.count))
        }
    }

    /// NEOX (rotate-half) RoPE: the reference is HF's q·cos + rotate_half(q)·sin on unpermuted rows, it equals the
    /// interleaved kernel on permuted rows bitwise, threaded == reference, backward is the inverse and adjoint.
    func testNeoxMatchesHFAndThreadedEqualsReference() throws {
        var rng = SplitMix64(seed: 23)
        let pool = opsMakePool(2)
        defer { opsDestroyPool(pool) }
        for (T, H, hd) in [(1, 1, 2), (7, 3, 18), (33, 9, 64), (20, 4, 128), (9, 2, 160)] {
            let half = hd / 2
            var inv = [Float](repeating: 0, count: half)
            lk_rope_inv_freq(&inv, Int64(hd), 1_000_000, nil)
            let pos = (0..<T).map { _ in Int32(rng.next() % 8192) }
            let x = opsRandom(T * H * hd, &rng), y = opsRandom(T * H * hd, &rng)
            var ref = x
            lk_rope_neox_fwd_ref(&ref, pos, inv, Int64(T), Int64(H), Int64(hd))
            // The same rotation as the interleaved kernel on the permuted rows.
            var perm = x
            for r in 0..<(T * H) {
                for i in 0..<half { for j in 0..<2 { perm[r * hd + 2 * i + j] = x[r * hd + j * half + i] } }
            }
            lk_rope_fwd_ref(&perm, pos, inv, Int64(T), Int64(H), Int64(hd))
            for r in 0..<(T * H) {
                for i in 0..<half {
                    XCTAssertEqual(ref[r * hd + i], perm[r * hd + 2 * i])
                    XCTAssertEqual(ref[r * hd + half + i], perm[r * hd + 2 * i + 1])
                }
            }
            for t in 0..<T {
                for h in 0..<H {
                    let base = (t * H + h) * hd
                    for i in 0..<half {
                        let a = Double(Float(pos[t]) * inv[i]), x0 = Double(x[base + i]), x1 = Double(x[base + half + i])
                        XCTAssertEqual(Double(ref[base + i]), x0 * cos(a) - x1 * sin(a), accuracy: 1e-5)
                        XCTAssertEqual(Double(ref[base + half + i]), x1 * cos(a) + x0 * sin(a), accuracy: 1e-5)
                    }
                }
            }
            checkThreadedInverseAdjoint(.neox, x: x, y: y, pos: pos, inv: inv, T: T, H: H, hd: hd, pool: pool)
        }
    }
}
