import CKernels
import Foundation
import XCTest

/// Causal GQA attention: the reference against a naive double-precision softmax attention, its backward against
/// finite differences, every ISA path against the reference (ragged S, hd, GQA groups 1 and 3), and
/// multi-thread == single-thread bitwise. Also times a SmolLM2-sized layer.
final class OpsAttentionTests: XCTestCase {
    struct Shape { var B, S, Hq, Hkv, hd: Int }

    struct Inputs {
        var q, k, v, dout: [Float]
        init(_ s: Shape, _ rng: inout SplitMix64) {
            let T = s.B * s.S
            q = opsRandom(T * s.Hq * s.hd, &rng, scale: 1.5)
            k = opsRandom(T * s.Hkv * s.hd, &rng, scale: 1.5)
            v = opsRandom(T * s.Hkv * s.hd, &rng)
            dout = opsRandom(T * s.Hq * s.hd, &rng)
        }
    }

    static let shapes = [
        Shape(B: 1, S: 1, Hq: 2, Hkv: 2, hd: 64),
        Shape(B: 2, S: 5, Hq: 4, Hkv: 4, hd: 8),
        Shape(B: 2, S: 17, Hq: 6, Hkv: 2, hd: 64),
        Shape(B: 1, S: 40, Hq: 3, Hkv: 1, hd: 18),
        Shape(B: 1, S: 70, Hq: 2, Hkv: 1, hd: 128),
        Shape(B: 2, S: 33, Hq: 9, Hkv: 3, hd: 64),
        Shape(B: 1, S: 16, Hq: 3, Hkv: 3, hd: 80),
        Shape(B: 3, S: 100, Hq: 8, Hkv: 2, hd: 32),
        Shape(B: 1, S: 129, Hq: 4, Hkv: 1, hd: 64),
    ]

    func scale(_ s: Shape) -> Float { 1 / Float(s.hd).squareRoot() }

    func ref(_ s: Shape, _ x: Inputs, firstKey: [Int32]? = nil) -> Result {
        let T = s.B * s.S
        var out = [Float](repeating: 0, count: T * s.Hq * s.hd), lse = [Float](repeating: 0, count: s.B * s.Hq * s.S)
        lk_attention_fwd_ref(&out, &lse, x.q, x.k, x.v, firstKey, Int64(s.B), Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd), scale(s))
        var dq = [Float](repeating: 0, count: x.q.count), dk = [Float](repeating: 0, count: x.k.count), dv = dk
        lk_attention_bwd_ref(&dq, &dk, &dv, x.dout, out, lse, x.q, x.k, x.v, firstKey,
                             Int64(s.B), Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd), scale(s))
        return (out, lse, dq, dk, dv)
    }

    func run(_ isa: lk_isa, _ pool: OpaquePointer?, _ s: Shape, _ x: Inputs, firstKey: [Int32]? = nil)
        -> Result {
        let T = s.B * s.S
        let (B, S, Hq, Hkv, hd) = (Int64(s.B), Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd))
        var scratch = [Float](repeating: .nan, count: lk_attention_scratch_floats(pool, B, S, Hq, Hkv, hd))
        var out = [Float](repeating: .nan, count: T * s.Hq * s.hd), lse = [Float](repeating: .nan, count: s.B * s.Hq * s.S)
        lk_attention_fwd_isa(isa, pool, &scratch, &out, &lse, x.q, x.k, x.v, firstKey, B, S, Hq, Hkv, hd, scale(s))
        var bscratch = [Float](repeating: .nan, count: lk_attention_bwd_scratch_floats(pool, B, S, Hq, Hkv, hd))
        var dq = [Float](repeating: .nan, count: x.q.count), dk = [Float](repeating: .nan, count: x.k.count), dv = dk
        lk_attention_bwd_isa(isa, pool, &bscratch, &dq, &dk, &dv, x.dout, out, lse, x.q, x.k, x.v, firstKey, B, S, Hq, Hkv, hd, scale(s))
        return (out, lse, dq, dk, dv)
    }

    func testReferenceMatchesNaiveSoftmaxAttention() {
        var rng = SplitMix64(seed: 11)
        for s in [Shape(B: 2, S: 6, Hq: 6, Hkv: 2, hd: 10), Shape(B: 1, S: 9, Hq: 2, Hkv: 2, hd: 70)] {
            let x = Inputs(s, &rng)
            let r = ref(s, x)
            let G = s.Hq / s.Hkv, sc = Double(scale(s))
            for b in 0..<s.B {
                for h in 0..<s.Hq {
                    for i in 0..<s.S {
                        let qi = (b * s.S + i) * s.Hq * s.hd + h * s.hd
                        var scores = [Double]()
                        for j in 0...i {
                            let kj = (b * s.S + j) * s.Hkv * s.hd + (h / G) * s.hd
                            scores.append(sc * (0..<s.hd).reduce(0.0) { $0 + Double(x.q[qi + $1]) * Double(x.k[kj + $1]) })
                        }
                        let m = scores.max()!, z = scores.reduce(0.0) { $0 + exp($1 - m) }
                        XCTAssertEqual(Double(r.lse[(b * s.Hq + h) * s.S + i]), m + log(z), accuracy: 1e-5)
                        for d in 0..<s.hd {
                            var o = 0.0
                            for j in 0...i {
                                o += exp(scores[j] - m) / z * Double(x.v[(b * s.S + j) * s.Hkv * s.hd + (h / G) * s.hd + d])
                            }
                            XCTAssertEqual(Double(r.out[qi + d]), o, accuracy: 1e-6)
                        }
                    }
                }
            }
        }
    }

    func testReferenceGradientsMatchFiniteDifferences() {
        var rng = SplitMix64(seed: 12)
        for s in [Shape(B: 2, S: 4, Hq: 6, Hkv: 2, hd: 4), Shape(B: 1, S: 5, Hq: 2, Hkv: 2, hd: 6)] {
            let x = Inputs(s, &rng)
            let R = x.dout // dL/dout for L = sum(out * R)
            let r = ref(s, x)
            func loss(_ q: [Float], _ k: [Float], _ v: [Float]) -> Double {
                var y = x
                y.q = q; y.k = k; y.v = v
                return opsDot(ref(s, y).out, R)
            }
            opsAssertGradient(r.dq, opsFiniteDifferences(x.q, eps: 1e-2) { loss($0, x.k, x.v) }, tol: 2e-3, "dq")
            opsAssertGradient(r.dk, opsFiniteDifferences(x.k, eps: 1e-2) { loss(x.q, $0, x.v) }, tol: 2e-3, "dk")
            opsAssertGradient(r.dv, opsFiniteDifferences(x.v, eps: 1e-2) { loss(x.q, x.k, $0) }, tol: 2e-3, "dv")
        }
    }

    typealias Result = (out: [Float], lse: [Float], dq: [Float], dk: [Float], dv: [Float])

    func assertClose(_ g: Result, _ r: Result, _ tag: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertLessThanOrEqual(opsRelErr(g.out, r.out), 1e-5, "out \(tag)", file: file, line: line)
        XCTAssertLessThanOrEqual(opsRelErr(g.lse, r.lse), 1e-5, "lse \(tag)", file: file, line: line)
        // Gradients can cancel to ~0 (S=1: dq = dk = 0 exactly), so errors are measured against at least 0.1.
        XCTAssertLessThanOrEqual(opsRelErr(g.dq, r.dq, floor: 0.1), 2e-5, "dq \(tag)", file: file, line: line)
        XCTAssertLessThanOrEqual(opsRelErr(g.dk, r.dk, floor: 0.1), 2e-5, "dk \(tag)", file: file, line: line)
        XCTAssertLessThanOrEqual(opsRelErr(g.dv, r.dv, floor: 0.1), 2e-5, "dv \(tag)", file: file, line: line)
    }

    func testEveryISAMatchesReference() {
        var rng = SplitMix64(seed: 13)
        for s in Self.shapes {
            let x = Inputs(s, &rng)
            let r = ref(s, x)
            for isa in opsISAs {
                let g = run(isa, nil, s, x)
                assertClose(g, r, "\(opsISAName(isa)) B=\(s.B) S=\(s.S) Hq=\(s.Hq) Hkv=\(s.Hkv) hd=\(s.hd)")
            }
        }
    }

    func testMultiThreadEqualsSingleThread() throws {
        var rng = SplitMix64(seed: 14)
        for s in [Shape(B: 2, S: 45, Hq: 6, Hkv: 2, hd: 64), Shape(B: 1, S: 33, Hq: 4, Hkv: 4, hd: 18)] {
            let x = Inputs(s, &rng)
            for threads: Int32 in [2, 3] {
                guard let pool = opsMakePool(threads) else { throw XCTSkip("could not create a thread pool") }
                defer { opsDestroyPool(pool) }
                for isa in opsISAs {
                    let a = run(isa, pool, s, x), b = run(isa, nil, s, x)
                    XCTAssertEqual([a.out, a.lse, a.dq, a.dk, a.dv], [b.out, b.lse, b.dq, b.dk, b.dv],
                                   "\(opsISAName(isa)) threads=\(threads) S=\(s.S)")
                }
            }
        }
    }

    /// Random first keys for B rows of S tokens: rows cut into random segments (packed examples), and with `window`
    /// each query also sees at most `window` keys (a sliding window inside its segment).
    static func randomFirstKeys(_ s: Shape, _ rng: inout SplitMix64, window: Int? = nil) -> [Int32] {
        var fk = [Int32](repeating: 0, count: s.B * s.S)
        for b in 0..<s.B {
            var start = 0
            for i in 0..<s.S {
                if i > 0 && rng.next() % 5 == 0 { start = i }
                fk[b * s.S + i] = Int32(window.map { max(start, i - $0 + 1) } ?? start)
            }
        }
        return fk
    }

    func testSegmentedReferenceEqualsEachSegmentAlone() {
        var rng = SplitMix64(seed: 16)
        let s = Shape(B: 2, S: 23, Hq: 6, Hkv: 2, hd: 8)
        let x = Inputs(s, &rng)
        let fk = Self.randomFirstKeys(s, &rng)
        let r = ref(s, x, firstKey: fk)
        let qd = s.Hq * s.hd, kd = s.Hkv * s.hd
        for b in 0..<s.B {
            var i0 = 0
            while i0 < s.S {
                var i1 = i0 + 1
                while i1 < s.S && fk[b * s.S + i1] == Int32(i0) { i1 += 1 }
                let n = i1 - i0, t0 = b * s.S + i0
                let one = Shape(B: 1, S: n, Hq: s.Hq, Hkv: s.Hkv, hd: s.hd)
                var y = x
                y.q = Array(x.q[t0 * qd..<(t0 + n) * qd]); y.dout = Array(x.dout[t0 * qd..<(t0 + n) * qd])
                y.k = Array(x.k[t0 * kd..<(t0 + n) * kd]); y.v = Array(x.v[t0 * kd..<(t0 + n) * kd])
                let a = ref(one, y)
                XCTAssertEqual(a.out, Array(r.out[t0 * qd..<(t0 + n) * qd]), "out b=\(b) [\(i0), \(i1))")
                XCTAssertEqual(a.dq, Array(r.dq[t0 * qd..<(t0 + n) * qd]), "dq b=\(b) [\(i0), \(i1))")
                XCTAssertEqual(a.dk, Array(r.dk[t0 * kd..<(t0 + n) * kd]), "dk b=\(b) [\(i0), \(i1))")
                XCTAssertEqual(a.dv, Array(r.dv[t0 * kd..<(t0 + n) * kd]), "dv b=\(b) [\(i0), \(i1))")
                for h in 0..<s.Hq {
                    XCTAssertEqual(Array(a.lse[h * n..<(h + 1) * n]),
                                   Array(r.lse[(b * s.Hq + h) * s.S + i0..<(b * s.Hq + h) * s.S + i1]), "lse b=\(b) h=\(h)")
                }
                i0 = i1
            }
        }
    }

    func testSegmentedEveryISAMatchesReference() throws {
        var rng = SplitMix64(seed: 17)
        let pool = opsMakePool(3)
        defer { opsDestroyPool(pool) }
        for s in Self.shapes where s.S > 1 {
            for window in [nil, 7, 40] as [Int?] {
                let x = Inputs(s, &rng)
                let fk = Self.randomFirstKeys(s, &rng, window: window)
                let r = ref(s, x, firstKey: fk)
                for isa in opsISAs {
                    let g = run(isa, nil, s, x, firstKey: fk)
                    let tag = "\(opsISAName(isa)) B=\(s.B) S=\(s.S) Hq=\(s.Hq) Hkv=\(s.Hkv) hd=\(s.hd) window=\(window ?? 0)"
                    assertClose(g, r, tag)
                    if let pool {
                        let m = run(isa, pool, s, x, firstKey: fk)
                        XCTAssertEqual([m.out, m.lse, m.dq, m.dk, m.dv], [g.out, g.lse, g.dq, g.dk, g.dv], "threads \(tag)")
                    }
                }
            }
        }
    }

    /// The backward keeps ds from its dk/dv pass for the dq pass when the buffer fits; recomputing it (what runs past
    /// 128 MB) gives bitwise the same gradients: fp32 on every ISA and bf16, plain and packed with windows, 1 and 3
    /// threads, GQA groups 1 to 4, and a buffer that takes the key/value heads in two runs.
    func testKeptDsEqualsRecomputedBitwise() throws {
        var rng = SplitMix64(seed: 19)
        let pool = opsMakePool(3)
        defer { opsDestroyPool(pool) }
        let shapes = [Shape(B: 2, S: 45, Hq: 6, Hkv: 2, hd: 64), Shape(B: 1, S: 70, Hq: 4, Hkv: 1, hd: 128),
                      Shape(B: 3, S: 33, Hq: 3, Hkv: 3, hd: 32), Shape(B: 1, S: 100, Hq: 8, Hkv: 2, hd: 18),
                      Shape(B: 4, S: 250, Hq: 6, Hkv: 3, hd: 32)] // the last: 8 + 4 key/value heads per ds buffer
        // bf16 takes lk_active_isa() for its fp32 fallback, as lk_attention_bwd_bf16 does
        let paths = opsISAs.map { ($0, Int32(0)) } + [(lk_active_isa(), Int32(1))]
        for s in shapes {
            for window in [nil, 0, 9] as [Int?] {
                let x = Inputs(s, &rng)
                let fk = window.map { Self.randomFirstKeys(s, &rng, window: $0 == 0 ? nil : $0) }
                let f = run(opsISAs[0], nil, s, x, firstKey: fk) // out and lse for the backward
                for p in [nil, pool] {
                    for (isa, bf16) in paths {
                        let kept = backward(s, x, f, fk, isa, bf16, p, keepDs: true)
                        XCTAssertFalse(kept.joined().contains { !$0.isFinite }, "non-finite gradient")
                        XCTAssertEqual(kept, backward(s, x, f, fk, isa, bf16, p, keepDs: false),
                                       "\(opsISAName(isa)) bf16=\(bf16) threads=\(p == nil ? 1 : 3) "
                                           + "S=\(s.S) Hq=\(s.Hq) Hkv=\(s.Hkv) hd=\(s.hd) window=\(window ?? -1)")
                    }
                }
            }
        }
    }

    /// dq, dk, dv of lk_attention_bwd_isa / _bf16 (ds kept where it fits) or of lk_attention_bwd_recompute.
    func backward(_ s: Shape, _ x: Inputs, _ f: Result, _ fk: [Int32]?, _ isa: lk_isa, _ bf16: Int32,
                  _ p: OpaquePointer?, keepDs: Bool) -> [[Float]] {
        let (B, S, Hq, Hkv, hd) = (Int64(s.B), Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd))
        var scratch = [Float](repeating: .nan, count: lk_attention_bwd_scratch_floats(p, B, S, Hq, Hkv, hd))
        var dq = [Float](repeating: .nan, count: x.q.count), dk = [Float](repeating: .nan, count: x.k.count), dv = dk
        if !keepDs {
            lk_attention_bwd_recompute(isa, bf16, p, &scratch, &dq, &dk, &dv, x.dout, f.out, f.lse, x.q, x.k, x.v, fk,
                                       B, S, Hq, Hkv, hd, scale(s))
        } else if bf16 == 1 {
            lk_attention_bwd_bf16(p, &scratch, &dq, &dk, &dv, x.dout, f.out, f.lse, x.q, x.k, x.v, fk, B, S, Hq, Hkv, hd,
                                  scale(s))
        } else {
            lk_attention_bwd_isa(isa, p, &scratch, &dq, &dk, &dv, x.dout, f.out, f.lse, x.q, x.k, x.v, fk, B, S, Hq, Hkv,
                                 hd, scale(s))
        }
        return [dq, dk, dv]
    }

    /// All-zero first keys are the plain causal call, bitwise.
    func testZeroFirstKeysEqualNoFirstKeys() {
        var rng = SplitMix64(seed: 18)
        let s = Shape(B: 2, S: 37, Hq: 6, Hkv: 2, hd: 64)
        let x = Inputs(s, &rng)
        let zeros = [Int32](repeating: 0, count: s.B * s.S)
        for isa in opsISAs {
            let a = run(isa, nil, s, x), b = run(isa, nil, s, x, firstKey: zeros)
            XCTAssertEqual([a.out, a.lse, a.dq, a.dk, a.dv], [b.out, b.lse, b.dq, b.dk, b.dv], opsISAName(isa))
        }
    }

    /// SmolLM2-135M attention shape (B=4, S=256, Hq=9, Hkv=3, hd=64): prints fwd and bwd milliseconds per layer.
    /// Runs only when LORAKIT_BENCH is set (use a release build: `swift test -c release -Xswiftc -enable-testing`).
    func testTimingSmolLM2Layer() throws {
        try XCTSkipIf(ProcessInfo.processInfo.environment["LORAKIT_BENCH"] == nil, "set LORAKIT_BENCH=1 to time attention")
        var rng = SplitMix64(seed: 15)
        let s = Shape(B: 4, S: 256, Hq: 9, Hkv: 3, hd: 64)
        let x = Inputs(s, &rng)
        let pool = opsMakePool(2)
        defer { opsDestroyPool(pool) }
        for isa in opsISAs {
            for p in [nil, pool] {
                var best = (fwd: Double.infinity, bwd: Double.infinity)
                let T = s.B * s.S
                let (B, S, Hq, Hkv, hd) = (Int64(s.B), Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd))
                var scratch = [Float](repeating: 0, count: lk_attention_scratch_floats(p, B, S, Hq, Hkv, hd))
                var bscratch = [Float](repeating: 0, count: lk_attention_bwd_scratch_floats(p, B, S, Hq, Hkv, hd))
                var out = [Float](repeating: 0, count: T * s.Hq * s.hd), lse = [Float](repeating: 0, count: s.B * s.Hq * s.S)
                var dq = [Float](repeating: 0, count: x.q.count), dk = [Float](repeating: 0, count: x.k.count), dv = dk
                for _ in 0..<3 {
                    let t0 = Date()
                    lk_attention_fwd_isa(isa, p, &scratch, &out, &lse, x.q, x.k, x.v, nil, B, S, Hq, Hkv, hd, scale(s))
                    let t1 = Date()
                    lk_attention_bwd_isa(isa, p, &bscratch, &dq, &dk, &dv, x.dout, out, lse, x.q, x.k, x.v, nil, B, S, Hq, Hkv, hd, scale(s))
                    let t2 = Date()
                    best = (min(best.fwd, t1.timeIntervalSince(t0)), min(best.bwd, t2.timeIntervalSince(t1)))
                }
                print(String(format: "attention B=4 S=256 Hq=9 Hkv=3 hd=64 %@ threads=%d: fwd %.2f ms, bwd %.2f ms",
                             opsISAName(isa), lk_pool_size(p), best.fwd * 1e3, best.bwd * 1e3))
            }
        }
    }
}
