import CKernels
import XCTest

// MARK: - Helpers shared by the Ops*Tests files

/// Uniform floats in [-scale, scale) (never exactly the zero pattern of an uninitialized buffer).
func opsRandom(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
    (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * scale }
}

/// max |a - b| / max(max |b|, floor): the error relative to the reference's magnitude.
func opsRelErr(_ a: [Float], _ b: [Float], floor: Float = 1e-6) -> Float {
    precondition(a.count == b.count)
    var e: Float = 0, m: Float = floor
    for i in a.indices {
        e = max(e, abs(a[i] - b[i]))
        m = max(m, abs(b[i]))
    }
    return e / m
}

/// The SIMD levels this CPU runs, plus scalar (the threaded scalar path is a distinct implementation from the ref).
var opsISAs: [lk_isa] {
    [LK_ISA_SCALAR, LK_ISA_NEON, LK_ISA_AVX2, LK_ISA_AVX512].filter { lk_isa_supported($0) != 0 }
}

func opsISAName(_ isa: lk_isa) -> String { String(cString: lk_isa_name(isa)) }

/// Central differences of `loss` at x, one element at a time; the step actually taken (x+eps and x-eps rounded to
/// float) is used as the denominator, and the loss is accumulated in double by the caller.
func opsFiniteDifferences(_ x: [Float], eps: Float, _ loss: ([Float]) -> Double) -> [Double] {
    var g = [Double](repeating: 0, count: x.count)
    var xp = x
    for i in x.indices {
        let hi = x[i] + eps, lo = x[i] - eps
        xp[i] = hi
        let lp = loss(xp)
        xp[i] = lo
        let lm = loss(xp)
        xp[i] = x[i]
        g[i] = (lp - lm) / (Double(hi) - Double(lo))
    }
    return g
}

/// Asserts max |fd - analytic| <= tol * max(max |analytic|, 1e-3).
func opsAssertGradient(_ analytic: [Float], _ fd: [Double], tol: Double, _ what: String,
                       file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(analytic.count, fd.count, what, file: file, line: line)
    var e = 0.0, m = 1e-3
    for i in fd.indices {
        e = max(e, abs(Double(analytic[i]) - fd[i]))
        m = max(m, abs(fd[i]))
    }
    XCTAssertLessThanOrEqual(e / m, tol, "\(what): max gradient error \(e) vs scale \(m)", file: file, line: line)
}

func opsDot(_ a: [Float], _ b: [Float]) -> Double {
    zip(a, b).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
}

/// A pool of n threads for the multi-thread checks (nil when threads cannot be created: those checks then skip).
func opsMakePool(_ n: Int32) -> OpaquePointer? { lk_pool_create(n, nil) }
func opsDestroyPool(_ p: OpaquePointer?) { lk_pool_destroy(p) }

// MARK: - RMSNorm, SwiGLU, cross-entropy, axpy

/// Row ops: every ISA path against the scalar reference on random data and ragged sizes, references against
/// independent double-precision formulas and against finite differences, and multi-thread == single-thread.
final class OpsRowsTests: XCTestCase {
    func testRMSNormMatchesReference() {
        var rng = SplitMix64(seed: 1)
        for (T, C) in [(1, 1), (3, 7), (5, 15), (4, 16), (7, 17), (2, 33), (9, 100), (6, 576), (3, 1000)] {
            let x = opsRandom(T * C, &rng, scale: 2), w = opsRandom(C, &rng), dy = opsRandom(T * C, &rng)
            let dx0 = opsRandom(T * C, &rng)
            var yRef = [Float](repeating: 0, count: T * C), rRef = [Float](repeating: 0, count: T)
            lk_rmsnorm_fwd_ref(&yRef, &rRef, x, w, Int64(T), Int64(C), 1e-5)
            // Independent formula.
            for t in 0..<T {
                let row = x[(t * C)..<((t + 1) * C)]
                let r = 1 / (row.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(C) + 1e-5).squareRoot()
                XCTAssertEqual(Double(rRef[t]), r, accuracy: 1e-6 * r)
                for c in 0..<C { XCTAssertEqual(Double(yRef[t * C + c]), Double(x[t * C + c]) * r * Double(w[c]), accuracy: 1e-5) }
            }
            var dxRef = [Float](repeating: 0, count: T * C), dxAccRef = dx0
            lk_rmsnorm_bwd_ref(&dxRef, dy, x, w, rRef, Int64(T), Int64(C), 0)
            lk_rmsnorm_bwd_ref(&dxAccRef, dy, x, w, rRef, Int64(T), Int64(C), 1)
            for isa in opsISAs {
                var y = [Float](repeating: 0, count: T * C), r = [Float](repeating: 0, count: T)
                lk_rmsnorm_fwd_isa(isa, nil, &y, &r, x, w, Int64(T), Int64(C), 1e-5)
                XCTAssertLessThanOrEqual(opsRelErr(y, yRef), 2e-6, "\(opsISAName(isa)) T=\(T) C=\(C)")
                XCTAssertLessThanOrEqual(opsRelErr(r, rRef), 2e-6, "\(opsISAName(isa)) T=\(T) C=\(C)")
                var dx = [Float](repeating: 7, count: T * C), dxAcc = dx0
                lk_rmsnorm_bwd_isa(isa, nil, &dx, dy, x, w, rRef, Int64(T), Int64(C), 0)
                lk_rmsnorm_bwd_isa(isa, nil, &dxAcc, dy, x, w, rRef, Int64(T), Int64(C), 1)
                // dx cancels for tiny C (C=1: dx ~ eps), so errors are measured against at least 0.1.
                XCTAssertLessThanOrEqual(opsRelErr(dx, dxRef, floor: 0.1), 1e-5, "\(opsISAName(isa)) T=\(T) C=\(C)")
                XCTAssertLessThanOrEqual(opsRelErr(dxAcc, dxAccRef, floor: 0.1), 1e-5, "\(opsISAName(isa)) T=\(T) C=\(C)")
            }
        }
    }

    func testRMSNormGradientMatchesFiniteDifferences() {
        var rng = SplitMix64(seed: 2)
        let T = 3, C = 7
        let x = opsRandom(T * C, &rng, scale: 2), w = opsRandom(C, &rng), R = opsRandom(T * C, &rng)
        var y = [Float](repeating: 0, count: T * C), r = [Float](repeating: 0, count: T)
        lk_rmsnorm_fwd_ref(&y, &r, x, w, Int64(T), Int64(C), 1e-5)
        var dx = [Float](repeating: 0, count: T * C)
        lk_rmsnorm_bwd_ref(&dx, R, x, w, r, Int64(T), Int64(C), 0)
        let fd = opsFiniteDifferences(x, eps: 1e-2) { xp in
            var yp = [Float](repeating: 0, count: T * C), rp = [Float](repeating: 0, count: T)
            lk_rmsnorm_fwd_ref(&yp, &rp, xp, w, Int64(T), Int64(C), 1e-5)
            return opsDot(yp, R)
        }
        opsAssertGradient(dx, fd, tol: 1e-3, "rmsnorm dx")
    }

    func testSwiGLUMatchesReference() {
        var rng = SplitMix64(seed: 3)
        for n in [1, 3, 7, 8, 15, 16, 17, 31, 100, 257, 1000, 5000] {
            var g = opsRandom(n, &rng, scale: 6), u = opsRandom(n, &rng), dh = opsRandom(n, &rng)
            if n > 4 { g[0] = 95; g[1] = -95; g[2] = 30; g[3] = -30 } // saturated sigmoid on both sides
            u[0] = 1.5
            var hRef = [Float](repeating: 0, count: n)
            lk_swiglu_fwd_ref(&hRef, g, u, Int64(n))
            for i in 0..<n {
                let gi = Double(g[i])
                XCTAssertEqual(Double(hRef[i]), gi / (1 + exp(-gi)) * Double(u[i]), accuracy: 1e-6 * max(1, abs(gi)))
            }
            var dgRef = [Float](repeating: 0, count: n), duRef = dgRef
            lk_swiglu_bwd_ref(&dgRef, &duRef, dh, g, u, Int64(n))
            for isa in opsISAs {
                var h = [Float](repeating: 0, count: n), dg = h, du = h
                lk_swiglu_fwd_isa(isa, nil, &h, g, u, Int64(n))
                lk_swiglu_bwd_isa(isa, nil, &dg, &du, dh, g, u, Int64(n))
                XCTAssertLessThanOrEqual(opsRelErr(h, hRef), 2e-6, "\(opsISAName(isa)) n=\(n)")
                XCTAssertLessThanOrEqual(opsRelErr(dg, dgRef), 2e-6, "\(opsISAName(isa)) n=\(n)")
                XCTAssertLessThanOrEqual(opsRelErr(du, duRef), 2e-6, "\(opsISAName(isa)) n=\(n)")
                XCTAssertFalse(h.contains { !$0.isFinite } || dg.contains { !$0.isFinite }, "\(opsISAName(isa))")
            }
        }
    }

    func testSwiGLUGradientMatchesFiniteDifferences() {
        var rng = SplitMix64(seed: 4)
        let n = 13
        let g = opsRandom(n, &rng, scale: 4), u = opsRandom(n, &rng), R = opsRandom(n, &rng)
        var dg = [Float](repeating: 0, count: n), du = dg
        lk_swiglu_bwd_ref(&dg, &du, R, g, u, Int64(n))
        func loss(_ g: [Float], _ u: [Float]) -> Double {
            var h = [Float](repeating: 0, count: n)
            lk_swiglu_fwd_ref(&h, g, u, Int64(n))
            return opsDot(h, R)
        }
        opsAssertGradient(dg, opsFiniteDifferences(g, eps: 1e-2) { loss($0, u) }, tol: 1e-3, "swiglu dg")
        opsAssertGradient(du, opsFiniteDifferences(u, eps: 1e-2) { loss(g, $0) }, tol: 1e-3, "swiglu du")
    }

    func testCrossEntropyMatchesReference() {
        var rng = SplitMix64(seed: 5)
        for (n, V) in [(1, 1), (3, 5), (4, 16), (5, 17), (6, 100), (4, 1000), (3, 4099)] {
            let logits = opsRandom(n * V, &rng, scale: 8)
            var targets = (0..<n).map { _ in Int32(rng.next() % UInt64(V)) }
            if n >= 3 { targets[1] = -100; targets[2] = Int32(V) } // ignored rows (negative and out of range)
            var lossRef = [Float](repeating: 0, count: n), gRef = logits
            lk_cross_entropy_fwd_bwd_ref(&lossRef, &gRef, targets, Int64(n), Int64(V), 0.25)
            var lossOnlyRef = [Float](repeating: 0, count: n)
            lk_cross_entropy_fwd_ref(&lossOnlyRef, logits, targets, Int64(n), Int64(V))
            XCTAssertEqual(lossOnlyRef, lossRef)
            // Independent formula: -log softmax[target] in double.
            for r in 0..<n {
                let row = logits[(r * V)..<((r + 1) * V)].map(Double.init)
                let t = Int(targets[r])
                if t < 0 || t >= V {
                    XCTAssertEqual(lossRef[r], 0)
                    XCTAssertTrue(gRef[(r * V)..<((r + 1) * V)].allSatisfy { $0 == 0 })
                    continue
                }
                let lse = log(row.reduce(0.0) { $0 + exp($1) })
                XCTAssertEqual(Double(lossRef[r]), lse - row[t], accuracy: 1e-5 * max(1, lse - row[t]))
            }
            for isa in opsISAs {
                var loss = [Float](repeating: 9, count: n), g = logits
                lk_cross_entropy_fwd_bwd_isa(isa, nil, &loss, &g, targets, Int64(n), Int64(V), 0.25)
                XCTAssertLessThanOrEqual(opsRelErr(loss, lossRef), 2e-6, "\(opsISAName(isa)) n=\(n) V=\(V)")
                XCTAssertLessThanOrEqual(opsRelErr(g, gRef), 2e-6, "\(opsISAName(isa)) n=\(n) V=\(V)")
                var loss2 = [Float](repeating: 9, count: n)
                let copy = logits
                lk_cross_entropy_fwd_isa(isa, nil, &loss2, logits, targets, Int64(n), Int64(V))
                XCTAssertEqual(logits, copy)
                XCTAssertLessThanOrEqual(opsRelErr(loss2, lossRef), 2e-6, "\(opsISAName(isa)) n=\(n) V=\(V)")
                for r in 0..<n where targets[r] < 0 || Int(targets[r]) >= V {
                    XCTAssertEqual(loss[r], 0)
                    XCTAssertTrue(g[(r * V)..<((r + 1) * V)].allSatisfy { $0 == 0 })
                }
            }
        }
    }

    /// The vocabulary-panel cross-entropy (online max / sum over panels, then the gradient panel by panel) equals the
    /// full-row one: every ISA, panels of several widths visited in shuffled order, ignored rows, a target in the
    /// last (short) panel, and rows whose max sits in a later panel (the running sum is rescaled).
    func testCrossEntropyPanelsEqualFullRows() {
        var rng = SplitMix64(seed: 61)
        for (n, V, P) in [(1, 1, 1), (3, 5, 2), (4, 100, 16), (5, 1000, 96), (6, 4099, 512), (3, 4099, 4099)] {
            var logits = opsRandom(n * V, &rng, scale: 8)
            var targets = (0..<n).map { _ in Int32(rng.next() % UInt64(V)) }
            if n >= 3 { targets[1] = -100; targets[2] = Int32(V) }
            if n >= 4 { targets[3] = Int32(V - 1); logits[3 * V + V - 2] = 40 }  // target and max in the last panel
            var lossRef = [Float](repeating: 0, count: n), gRef = logits
            lk_cross_entropy_fwd_bwd_ref(&lossRef, &gRef, targets, Int64(n), Int64(V), 0.25)
            var starts = Array(stride(from: 0, to: V, by: P))
            starts.shuffle(using: &rng)
            for isa in [nil] + opsISAs.map(Optional.some) {
                var m = [Float](repeating: -.infinity, count: n), s = [Double](repeating: 0, count: n)
                var z = [Float](repeating: 0, count: n)
                for v0 in starts {
                    let w = min(P, V - v0)
                    var panel = [Float](repeating: 0, count: n * w)
                    for r in 0..<n { for c in 0..<w { panel[r * w + c] = logits[r * V + v0 + c] } }
                    if let isa {
                        lk_xent_panel_fwd_isa(isa, nil, &m, &s, &z, panel, Int64(w), targets, Int64(n), Int64(v0), Int64(w), Int64(V))
                    } else {
                        lk_xent_panel_fwd_ref(&m, &s, &z, panel, Int64(w), targets, Int64(n), Int64(v0), Int64(w), Int64(V))
                    }
                }
                var loss = [Float](repeating: 9, count: n), lse = [Float](repeating: 9, count: n)
                lk_xent_panel_finish(&loss, &lse, m, s, z, targets, Int64(n), Int64(V))
                let name = isa.map(opsISAName) ?? "ref"
                XCTAssertLessThanOrEqual(opsRelErr(loss, lossRef), 2e-6, "\(name) n=\(n) V=\(V) P=\(P)")
                var g = [Float](repeating: 0, count: n * V)
                for v0 in starts {
                    let w = min(P, V - v0)
                    var panel = [Float](repeating: 0, count: n * w)
                    for r in 0..<n { for c in 0..<w { panel[r * w + c] = logits[r * V + v0 + c] } }
                    if let isa {
                        lk_xent_panel_bwd_isa(isa, nil, &panel, Int64(w), targets, lse, Int64(n), Int64(v0), Int64(w), Int64(V), 0.25)
                    } else {
                        lk_xent_panel_bwd_ref(&panel, Int64(w), targets, lse, Int64(n), Int64(v0), Int64(w), Int64(V), 0.25)
                    }
                    for r in 0..<n { for c in 0..<w { g[r * V + v0 + c] = panel[r * w + c] } }
                }
                XCTAssertLessThanOrEqual(opsRelErr(g, gRef), 4e-6, "\(name) n=\(n) V=\(V) P=\(P)")
                for r in 0..<n where targets[r] < 0 || Int(targets[r]) >= V {
                    XCTAssertEqual(loss[r], 0)
                    XCTAssertTrue(g[(r * V)..<((r + 1) * V)].allSatisfy { $0 == 0 })
                }
            }
        }
    }

    func testCrossEntropyGradientMatchesFiniteDifferences() {
        var rng = SplitMix64(seed: 6)
        let n = 3, V = 11, scale: Float = 0.5
        let logits = opsRandom(n * V, &rng, scale: 3)
        let targets: [Int32] = [4, -100, 10]
        var loss = [Float](repeating: 0, count: n), g = logits
        lk_cross_entropy_fwd_bwd_ref(&loss, &g, targets, Int64(n), Int64(V), scale)
        let fd = opsFiniteDifferences(logits, eps: 1e-2) { lp in
            var l = [Float](repeating: 0, count: n)
            lk_cross_entropy_fwd_ref(&l, lp, targets, Int64(n), Int64(V))
            return Double(scale) * l.reduce(0.0) { $0 + Double($1) }
        }
        opsAssertGradient(g, fd, tol: 1e-3, "xent dlogits")
    }

    func testAxpyAndSumSquares() {
        var rng = SplitMix64(seed: 7)
        for n in [1, 5, 16, 17, 100, 1001, 70001] {
            let x = opsRandom(n, &rng), y0 = opsRandom(n, &rng)
            var yRef = y0
            lk_axpy_ref(&yRef, -0.75, x, Int64(n))
            for i in 0..<n { XCTAssertEqual(Double(yRef[i]), Double(y0[i]) - 0.75 * Double(x[i]), accuracy: 1e-6) }
            for isa in opsISAs {
                var y = y0
                lk_axpy_isa(isa, nil, &y, -0.75, x, Int64(n))
                XCTAssertLessThanOrEqual(opsRelErr(y, yRef), 1e-6, "\(opsISAName(isa)) n=\(n)")
            }
            let ss = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            XCTAssertEqual(lk_sum_squares(x, Int64(n)), ss, accuracy: 1e-12 * max(1, ss))
        }
    }

    /// Threaded paths give bitwise the same result with 1, 2 and 3 threads (row splits never change a row's math).
    func testMultiThreadEqualsSingleThread() throws {
        var rng = SplitMix64(seed: 8)
        let T = 37, C = 2003, V = 517, n = T * C
        let x = opsRandom(n, &rng, scale: 3), w = opsRandom(C, &rng), u = opsRandom(n, &rng)
        let logits = opsRandom(T * V, &rng, scale: 5)
        let targets = (0..<T).map { i in i % 5 == 0 ? Int32(-100) : Int32(i * 7 % V) }
        func run(_ pool: OpaquePointer?, _ isa: lk_isa) -> [[Float]] {
            var y = [Float](repeating: 0, count: n), r = [Float](repeating: 0, count: T), dx = x
            lk_rmsnorm_fwd_isa(isa, pool, &y, &r, x, w, Int64(T), Int64(C), 1e-6)
            lk_rmsnorm_bwd_isa(isa, pool, &dx, u, x, w, r, Int64(T), Int64(C), 1)
            var h = [Float](repeating: 0, count: n), dg = h, du = h
            lk_swiglu_fwd_isa(isa, pool, &h, x, u, Int64(n))
            lk_swiglu_bwd_isa(isa, pool, &dg, &du, u, x, h, Int64(n))
            var loss = [Float](repeating: 0, count: T), g = logits, loss2 = loss
            lk_cross_entropy_fwd_bwd_isa(isa, pool, &loss, &g, targets, Int64(T), Int64(V), 1.0 / 37)
            lk_cross_entropy_fwd_isa(isa, pool, &loss2, logits, targets, Int64(T), Int64(V))
            var a = x
            lk_axpy_isa(isa, pool, &a, 0.5, u, Int64(n))
            return [y, r, dx, h, dg, du, loss, g, loss2, a]
        }
        for threads: Int32 in [2, 3] {
            guard let pool = opsMakePool(threads) else { throw XCTSkip("could not create a thread pool") }
            defer { opsDestroyPool(pool) }
            for isa in opsISAs {
                XCTAssertEqual(run(pool, isa), run(nil, isa), "\(opsISAName(isa)) threads=\(threads)")
            }
        }
    }
}
