import CKernels
import XCTest

/// The bf16 attention (lk_attention_fwd_bf16 / bwd_bf16: the four products with bf16 operands, fp32 sums) against
/// the double-precision reference on random data: plain causal, packed first keys, sliding windows, GQA groups 1 and
/// 3, head dims 32, 64, 128. Threaded == single-thread bitwise; where the bf16 kernels do not run (no AVX512-BF16,
/// hd not a multiple of 32) the calls are the fp32 ones, bitwise.
final class OpsAttentionBF16Tests: XCTestCase {
    typealias Shape = OpsAttentionTests.Shape
    typealias Result = OpsAttentionTests.Result

    static let shapes = [
        Shape(B: 1, S: 1, Hq: 2, Hkv: 2, hd: 64),
        Shape(B: 2, S: 17, Hq: 6, Hkv: 2, hd: 64),
        Shape(B: 2, S: 33, Hq: 9, Hkv: 3, hd: 64),
        Shape(B: 1, S: 70, Hq: 2, Hkv: 1, hd: 128),
        Shape(B: 3, S: 100, Hq: 8, Hkv: 2, hd: 32),
        Shape(B: 1, S: 129, Hq: 4, Hkv: 1, hd: 64),
    ]

    func scale(_ s: Shape) -> Float { 1 / Float(s.hd).squareRoot() }

    func ref(_ s: Shape, _ x: OpsAttentionTests.Inputs, firstKey: [Int32]?) -> Result {
        let (B, S, Hq, Hkv, hd) = (Int64(s.B), Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd))
        var out = [Float](repeating: 0, count: x.q.count), lse = [Float](repeating: 0, count: s.B * s.Hq * s.S)
        lk_attention_fwd_ref(&out, &lse, x.q, x.k, x.v, firstKey, B, S, Hq, Hkv, hd, scale(s))
        var dq = [Float](repeating: 0, count: x.q.count), dk = [Float](repeating: 0, count: x.k.count), dv = dk
        lk_attention_bwd_ref(&dq, &dk, &dv, x.dout, out, lse, x.q, x.k, x.v, firstKey, B, S, Hq, Hkv, hd, scale(s))
        return (out, lse, dq, dk, dv)
    }

    func run(_ bf16: Bool, _ pool: OpaquePointer?, _ s: Shape, _ x: OpsAttentionTests.Inputs, firstKey: [Int32]?) -> Result {
        let T = s.B * s.S
        let (B, S, Hq, Hkv, hd) = (Int64(s.B), Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd))
        var scratch = [Float](repeating: .nan, count: lk_attention_scratch_floats(pool, B, S, Hq, Hkv, hd))
        var out = [Float](repeating: .nan, count: T * s.Hq * s.hd), lse = [Float](repeating: .nan, count: s.B * s.Hq * s.S)
        var bscratch = [Float](repeating: .nan, count: lk_attention_bwd_scratch_floats(pool, B, S, Hq, Hkv, hd))
        var dq = [Float](repeating: .nan, count: x.q.count), dk = [Float](repeating: .nan, count: x.k.count), dv = dk
        if bf16 {
            lk_attention_fwd_bf16(pool, &scratch, &out, &lse, x.q, x.k, x.v, firstKey, B, S, Hq, Hkv, hd, scale(s))
            lk_attention_bwd_bf16(pool, &bscratch, &dq, &dk, &dv, x.dout, out, lse, x.q, x.k, x.v, firstKey, B, S, Hq, Hkv, hd, scale(s))
        } else {
            lk_attention_fwd(pool, &scratch, &out, &lse, x.q, x.k, x.v, firstKey, B, S, Hq, Hkv, hd, scale(s))
            lk_attention_bwd(pool, &bscratch, &dq, &dk, &dv, x.dout, out, lse, x.q, x.k, x.v, firstKey, B, S, Hq, Hkv, hd, scale(s))
        }
        return (out, lse, dq, dk, dv)
    }

    /// Measured worst case over these shapes (relative to the largest reference magnitude, gradients floored at 0.1):
    /// out 4.9e-3, lse 4.2e-3, dq and dk 1.9e-2 (S=1, where the exact gradient is 0 and the bf16 dout.v no longer
    /// cancels dout.out exactly), dv 2.8e-3; the bounds leave about 2x.
    func testBF16MatchesReferenceWithinBound() throws {
        try XCTSkipIf(lk_attention_bf16_native(64) == 0, "no AVX512-BF16 on this CPU (the bf16 calls are the fp32 ones)")
        var rng = SplitMix64(seed: 21)
        let pool = opsMakePool(3)
        defer { opsDestroyPool(pool) }
        var worst: [Float] = [0, 0, 0, 0, 0]
        for s in Self.shapes {
            for window in [nil, 0, 7, 40] as [Int?] {
                let x = OpsAttentionTests.Inputs(s, &rng)
                let fk = window.map { OpsAttentionTests.randomFirstKeys(s, &rng, window: $0 == 0 ? nil : $0) }
                let r = ref(s, x, firstKey: fk)
                let g = run(true, nil, s, x, firstKey: fk)
                let e = [opsRelErr(g.out, r.out), opsRelErr(g.lse, r.lse), opsRelErr(g.dq, r.dq, floor: 0.1),
                         opsRelErr(g.dk, r.dk, floor: 0.1), opsRelErr(g.dv, r.dv, floor: 0.1)]
                worst = zip(worst, e).map { max($0, $1) }
                let tag = "B=\(s.B) S=\(s.S) Hq=\(s.Hq) Hkv=\(s.Hkv) hd=\(s.hd) first keys \(window.map(String.init) ?? "none")"
                XCTAssertLessThanOrEqual(e[0], 1e-2, "out \(tag)")
                XCTAssertLessThanOrEqual(e[1], 1e-2, "lse \(tag)")
                XCTAssertLessThanOrEqual(e[2], 4e-2, "dq \(tag)")
                XCTAssertLessThanOrEqual(e[3], 4e-2, "dk \(tag)")
                XCTAssertLessThanOrEqual(e[4], 4e-2, "dv \(tag)")
                if let pool {
                    let m = run(true, pool, s, x, firstKey: fk)
                    XCTAssertEqual([m.out, m.lse, m.dq, m.dk, m.dv], [g.out, g.lse, g.dq, g.dk, g.dv], "threads \(tag)")
                }
            }
        }
        print("bf16 attention worst relative errors (out, lse, dq, dk, dv): \(worst)")
    }

    /// Head dims the bf16 kernels do not take (and every call on CPUs without AVX512-BF16) run the fp32 kernels.
    func testFallbackIsTheFP32Call() {
        var rng = SplitMix64(seed: 22)
        var shapes = [Shape(B: 2, S: 40, Hq: 3, Hkv: 1, hd: 18), Shape(B: 1, S: 16, Hq: 3, Hkv: 3, hd: 80)]
        if lk_attention_bf16_native(64) == 0 { shapes.append(Shape(B: 2, S: 33, Hq: 6, Hkv: 2, hd: 64)) }
        for s in shapes {
            XCTAssertEqual(lk_attention_bf16_native(Int64(s.hd)) != 0, false)
            let x = OpsAttentionTests.Inputs(s, &rng)
            let a = run(true, nil, s, x, firstKey: nil), b = run(false, nil, s, x, firstKey: nil)
            XCTAssertEqual([a.out, a.lse, a.dq, a.dk, a.dv], [b.out, b.lse, b.dq, b.dk, b.dv], "hd=\(s.hd)")
        }
    }
}
