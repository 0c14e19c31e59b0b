import CKernels
import Foundation
import XCTest

/// lk_decode_attention: the double reference against lk_attention_fwd_ref (the last rows of a full causal pass
/// equal the decode of those rows over the cache), every ISA path against the reference (ragged hd, GQA,
/// past = 0 prefill and past > 0 steps), and 1 vs 2 threads bitwise.
final class DecodeAttentionTests: XCTestCase {
    struct Shape { var S, Tq, Hq, Hkv, hd: Int }
    static let shapes = [
        Shape(S: 1, Tq: 1, Hq: 2, Hkv: 2, hd: 64),
        Shape(S: 9, Tq: 1, Hq: 9, Hkv: 3, hd: 64),
        Shape(S: 17, Tq: 5, Hq: 6, Hkv: 2, hd: 18),
        Shape(S: 40, Tq: 40, Hq: 3, Hkv: 1, hd: 20),
        Shape(S: 70, Tq: 3, Hq: 4, Hkv: 4, hd: 7),
        Shape(S: 33, Tq: 2, Hq: 8, Hkv: 2, hd: 128),
    ]

    func random(_ n: Int, _ rng: inout SplitMix64) -> [Float] { (0..<n).map { _ in rng.nextFloat() * 3 - 1.5 } }

    func testReferenceMatchesFullAttentionLastRows() {
        var rng = SplitMix64(seed: 91)
        for s in Self.shapes {
            let qs = s.Hq * s.hd, ks = s.Hkv * s.hd, sc = 1 / Float(s.hd).squareRoot()
            let q = random(s.S * qs, &rng), k = random(s.S * ks, &rng), v = random(s.S * ks, &rng)
            var full = [Float](repeating: 0, count: s.S * qs), lse = [Float](repeating: 0, count: s.Hq * s.S)
            lk_attention_fwd_ref(&full, &lse, q, k, v, nil, 1, Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd), sc)
            let past = s.S - s.Tq
            var out = [Float](repeating: 0, count: s.Tq * qs)
            let qNew = Array(q[(past * qs)...])
            lk_decode_attention_ref(&out, qNew, k, v, Int64(past), Int64(s.Tq), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd), sc)
            let want = Array(full[(past * qs)...])
            for i in 0..<out.count { XCTAssertEqual(out[i], want[i], accuracy: 1e-6, "shape \(s) index \(i)") }
        }
    }

    func testISAPathsMatchReferenceAndThreadCounts() {
        var rng = SplitMix64(seed: 92)
        let pool1 = lk_pool_create(1, nil), pool2 = lk_pool_create(2, nil)
        defer { lk_pool_destroy(pool1); lk_pool_destroy(pool2) }
        for s in Self.shapes {
            let qs = s.Hq * s.hd, ks = s.Hkv * s.hd, sc = 1 / Float(s.hd).squareRoot(), past = s.S - s.Tq
            let q = random(s.Tq * qs, &rng), k = random(s.S * ks, &rng), v = random(s.S * ks, &rng)
            var ref = [Float](repeating: 0, count: s.Tq * qs)
            lk_decode_attention_ref(&ref, q, k, v, Int64(past), Int64(s.Tq), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd), sc)
            for isa in [LK_ISA_SCALAR, LK_ISA_AVX2, LK_ISA_AVX512] {
                var outs: [[Float]] = []
                for pool in [pool1, pool2] {
                    var scratch = [Float](repeating: 0, count: lk_decode_attention_scratch_floats(pool, Int64(s.S)))
                    var out = [Float](repeating: .nan, count: s.Tq * qs)
                    lk_decode_attention_isa(isa, pool, &scratch, &out, q, k, v, Int64(past), Int64(s.Tq), Int64(s.Hq),
                                            Int64(s.Hkv), Int64(s.hd), sc)
                    outs.append(out)
                }
                XCTAssertEqual(outs[0], outs[1], "isa \(isa) shape \(s): 1 vs 2 threads")
                var num = 0.0, den = 0.0
                for i in 0..<ref.count {
                    num += Double(outs[0][i] - ref[i]) * Double(outs[0][i] - ref[i])
                    den += Double(ref[i]) * Double(ref[i])
                    XCTAssertEqual(outs[0][i], ref[i], accuracy: 1e-5, "isa \(isa) shape \(s) index \(i)")
                }
                XCTAssertLessThan((num / den).squareRoot(), 1e-6, "isa \(isa) shape \(s)")
            }
        }
    }

    func testInvalidShapesDoNothing() {
        var out: [Float] = [7, 7]
        let q: [Float] = [1, 2], k: [Float] = [1, 2], v: [Float] = [3, 4]
        var scratch = [Float](repeating: 0, count: 64)
        lk_decode_attention(nil, &scratch, &out, q, k, v, 0, 1, 3, 2, 1, 1)   // Hq % Hkv != 0
        lk_decode_attention(nil, &scratch, &out, q, k, v, -1, 1, 1, 1, 2, 1)  // past < 0
        XCTAssertEqual(out, [7, 7])
    }

    /// lk_decode_qmatvec against lk_qmatmul_fwd_ref (fp64 over the reference-dequantized W) for every compute
    /// type, ragged out, T = 1...3, and 1 vs 2 threads bitwise.
    func testQMatVecMatchesReference() {
        var rng = SplitMix64(seed: 93)
        let pool1 = lk_pool_create(1, nil), pool2 = lk_pool_create(2, nil)
        defer { lk_pool_destroy(pool1); lk_pool_destroy(pool2) }
        for t in [LK_F32, LK_F16, LK_BF16, LK_Q8_0, LK_Q4_0, LK_Q4_1] {
            for (out, inF, T) in [(1, 32, 1), (77, 64, 2), (300, 96, 3), (1000, 576, 1)] {
                let wf = random(out * inF, &rng)
                let rb = Int(lk_type_block_bytes(t)) * inF / Int(lk_type_block_size(t))
                var w = [UInt8](repeating: 0, count: rb * out)
                for o in 0..<out {
                    _ = w.withUnsafeMutableBytes { d in wf.withUnsafeBufferPointer { s in
                        lk_quantize_row(t, d.baseAddress! + o * rb, s.baseAddress! + o * inF, Int64(inF)) } }
                }
                let x = random(T * inF, &rng)
                var ref = [Float](repeating: 0, count: T * out)
                lk_qmatmul_fwd_ref(&ref, Int64(out), x, Int64(inF), t, w, Int64(out), Int64(inF), Int64(T))
                var outs: [[Float]] = []
                for pool in [pool1, pool2] {
                    var scratch = [Float](repeating: 0, count: lk_decode_qmatvec_scratch_floats(pool, Int64(inF)))
                    var y = [Float](repeating: .nan, count: T * out)
                    lk_decode_qmatvec(pool, &scratch, &y, Int64(out), x, Int32(t.rawValue), w, Int64(out), Int64(inF), Int64(T))
                    outs.append(y)
                }
                XCTAssertEqual(outs[0], outs[1], "type \(t) [\(out), \(inF)] T \(T): 1 vs 2 threads")
                for i in 0..<ref.count {
                    XCTAssertEqual(outs[0][i], ref[i], accuracy: 1e-5 * Float(inF).squareRoot() * 4, "type \(t) [\(out), \(inF)] T \(T) index \(i)")
                }
            }
        }
    }

    /// A sliding window: the reference equals lk_attention_fwd_ref with first keys max(0, i − w + 1) on the last
    /// rows, every ISA path equals the windowed reference, and window 0 (or ≥ the context) is the plain kernel.
    func testSlidingWindow() {
        var rng = SplitMix64(seed: 93)
        let pool2 = lk_pool_create(2, nil)
        defer { lk_pool_destroy(pool2) }
        for s in Self.shapes {
            for w in [1, 3, 8, s.S, 0] {
                let qs = s.Hq * s.hd, ks = s.Hkv * s.hd, sc = 1 / Float(s.hd).squareRoot(), past = s.S - s.Tq
                let q = random(s.S * qs, &rng), k = random(s.S * ks, &rng), v = random(s.S * ks, &rng)
                let first = (0..<s.S).map { Int32(w > 0 ? max(0, $0 - w + 1) : 0) }
                var full = [Float](repeating: 0, count: s.S * qs), lse = [Float](repeating: 0, count: s.Hq * s.S)
                lk_attention_fwd_ref(&full, &lse, q, k, v, first, 1, Int64(s.S), Int64(s.Hq), Int64(s.Hkv), Int64(s.hd), sc)
                let qNew = Array(q[(past * qs)...])
                var ref = [Float](repeating: 0, count: s.Tq * qs)
                lk_decode_attention_window_ref(&ref, qNew, k, v, Int64(past), Int64(s.Tq), Int64(s.Hq), Int64(s.Hkv),
                                               Int64(s.hd), sc, Int64(w))
                let want = Array(full[(past * qs)...])
                for i in 0..<ref.count { XCTAssertEqual(ref[i], want[i], accuracy: 1e-6, "shape \(s) window \(w) index \(i)") }
                for isa in [LK_ISA_SCALAR, LK_ISA_AVX2, LK_ISA_AVX512] {
                    var scratch = [Float](repeating: 0, count: lk_decode_attention_scratch_floats(pool2, Int64(s.S)))
                    var out = [Float](repeating: .nan, count: s.Tq * qs)
                    lk_decode_attention_window_isa(isa, pool2, &scratch, &out, qNew, k, v, Int64(past), Int64(s.Tq),
                                                   Int64(s.Hq), Int64(s.Hkv), Int64(s.hd), sc, Int64(w))
                    for i in 0..<ref.count { XCTAssertEqual(out[i], ref[i], accuracy: 1e-5, "isa \(isa) shape \(s) window \(w)") }
                }
            }
        }
    }
}
