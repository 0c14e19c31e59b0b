import CKernels
import XCTest

/// Frozen-weight products against the fp64 reference (and the reference against a loop written here),
/// on ragged shapes, 1-3 pool threads, accumulate on/off, strided leading dimensions.
final class MatmulKernelTests: XCTestCase {
    static var pools: [OpaquePointer?] = [nil] + (1...3).map { lk_pool_create(Int32($0), nil) }

    /// max |got - expect| / max |expect|
    private func relErr(_ got: [Float], _ expect: [Float]) -> Double {
        var e = 0.0, m = 0.0
        for (g, x) in zip(got, expect) { e = max(e, Double(abs(g - x))); m = max(m, Double(abs(x))) }
        return m == 0 ? e : e / m
    }

    /// Random weights of type t [out, in] (quantized from random floats) and the reference-dequantized fp32 copy.
    private func weights(_ t: lk_type, _ out: Int, _ inn: Int, _ rng: inout SplitMix64) -> ([UInt8], [Float]) {
        let w = QuantTestData.randomFloats(out * inn, &rng)
        var q = [UInt8](repeating: 0, count: max(1, out * inn / Int(lk_type_block_size(t)) * Int(lk_type_block_bytes(t))))
        q.withUnsafeMutableBytes { XCTAssertEqual(lk_quantize_row(t, $0.baseAddress!, w, Int64(out * inn)), 0) }
        return (q, QuantTestData.dequantRef(t, q, out * inn))
    }

    private func shapes(_ t: lk_type) -> [(T: Int, out: Int, in: Int)] {
        if lk_type_block_size(t) == 256 { // K-quants: rows of whole super-blocks, panels across 1024-column chunks
            return [(1, 1, 256), (1, 37, 512), (13, 1, 256), (17, 45, 768), (33, 70, 1280), (3, 600, 512), (2, 70, 2560), (9, 530, 1024)]
                .map { (T: $0.0, out: $0.1, in: $0.2) }
        }
        let u = Int(lk_type_block_size(t)) == 1 ? 1 : 32
        var s = [(1, 1, 32), (1, 37, 64), (13, 1, 96), (17, 45, 160), (33, 70, 288), (5, 300, 64), (3, 600, 576), (2, 70, 2560), (9, 530, 1024)]
            .map { (T: $0.0, out: $0.1, in: $0.2) }
        if u == 1 { s += [(T: 7, out: 19, in: 77), (T: 2, out: 5, in: 1)] }
        return s
    }

    func testReferenceMatchesDirectLoop() {
        var rng = SplitMix64(seed: 31)
        for t in QuantTestData.computeTypes {
            let (T, out, inn) = (5, 7, lk_type_block_size(t) == 256 ? 256 : 64)
            let (q, w) = weights(t, out, inn, &rng)
            let x = QuantTestData.randomFloats(T * inn, &rng), dy = QuantTestData.randomFloats(T * out, &rng)
            var y = [Float](repeating: 0, count: T * out), dx = [Float](repeating: 0, count: T * inn)
            q.withUnsafeBytes {
                lk_qmatmul_fwd_ref(&y, Int64(out), x, Int64(inn), t, $0.baseAddress!, Int64(out), Int64(inn), Int64(T))
                lk_qmatmul_bwd_data_ref(&dx, Int64(inn), dy, Int64(out), t, $0.baseAddress!, Int64(out), Int64(inn), Int64(T))
            }
            for r in 0..<T {
                for o in 0..<out {
                    var s = 0.0
                    for i in 0..<inn { s += Double(x[r * inn + i]) * Double(w[o * inn + i]) }
                    XCTAssertEqual(y[r * out + o], Float(s), accuracy: 1e-6 * max(1, abs(Float(s))))
                }
                for i in 0..<inn {
                    var s = 0.0
                    for o in 0..<out { s += Double(dy[r * out + o]) * Double(w[o * inn + i]) }
                    XCTAssertEqual(dx[r * inn + i], Float(s), accuracy: 1e-6 * max(1, abs(Float(s))))
                }
            }
        }
    }

    func testForwardMatchesReference() {
        var rng = SplitMix64(seed: 32)
        for t in QuantTestData.computeTypes {
            for (T, out, inn) in shapes(t) {
                let (q, _) = weights(t, out, inn, &rng)
                let ldx = inn + 5, ldy = out + 3
                let x = QuantTestData.randomFloats(T * ldx, &rng)
                var ref = [Float](repeating: 0, count: T * ldy)
                q.withUnsafeBytes { lk_qmatmul_fwd_ref(&ref, Int64(ldy), x, Int64(ldx), t, $0.baseAddress!, Int64(out), Int64(inn), Int64(T)) }
                let y0 = QuantTestData.randomFloats(T * ldy, &rng)
                for (pi, p) in Self.pools.enumerated() {
                    let need = lk_qmatmul_scratch_bytes(p, t, Int64(out), Int64(inn))
                    var scratch = [UInt8](repeating: 0xA5, count: need + 256) // the tail must stay untouched
                    for acc in [0, 1] {
                        var y = y0, y2 = y0
                        q.withUnsafeBytes { w in
                            scratch.withUnsafeMutableBytes { s in
                                lk_qmatmul_fwd(p, s.baseAddress, &y, Int64(ldy), x, Int64(ldx), t, w.baseAddress!, Int64(out), Int64(inn), Int64(T), Int32(acc))
                            }
                            lk_qmatmul_fwd(p, nil, &y2, Int64(ldy), x, Int64(ldx), t, w.baseAddress!, Int64(out), Int64(inn), Int64(T), Int32(acc))
                        }
                        var got: [Float] = [], expect: [Float] = []
                        for r in 0..<T {
                            for o in 0..<ldy {
                                let i = r * ldy + o
                                if o < out { got.append(y[i]); expect.append(ref[i] + (acc == 1 ? y0[i] : 0)) }
                                else { XCTAssertEqual(y[i], y0[i], "padding column written") }
                            }
                        }
                        XCTAssertTrue(scratch[need...].allSatisfy { $0 == 0xA5 }, "wrote past the scratch size")
                        let e = relErr(got, expect)
                        XCTAssertLessThanOrEqual(e, 1e-5, "fwd type \(t.rawValue) T=\(T) out=\(out) in=\(inn) pool#\(pi) acc=\(acc)")
                        XCTAssertEqual(y.map(\.bitPattern), y2.map(\.bitPattern), "same pool, NULL scratch: bitwise equal")
                    }
                }
            }
        }
    }

    func testBackwardDataMatchesReference() {
        var rng = SplitMix64(seed: 33)
        for t in QuantTestData.computeTypes {
            for (T, out, inn) in shapes(t) {
                let (q, _) = weights(t, out, inn, &rng)
                let lddy = out + 2, lddx = inn + 7
                let dy = QuantTestData.randomFloats(T * lddy, &rng)
                var ref = [Float](repeating: 0, count: T * lddx)
                q.withUnsafeBytes { lk_qmatmul_bwd_data_ref(&ref, Int64(lddx), dy, Int64(lddy), t, $0.baseAddress!, Int64(out), Int64(inn), Int64(T)) }
                let dx0 = QuantTestData.randomFloats(T * lddx, &rng)
                for (pi, p) in Self.pools.enumerated() {
                    let need = lk_qmatmul_scratch_bytes(p, t, Int64(out), Int64(inn))
                    var scratch = [UInt8](repeating: 0xA5, count: need + 256) // the tail must stay untouched
                    for acc in [0, 1] {
                        var dx = dx0, dx2 = dx0
                        q.withUnsafeBytes { w in
                            scratch.withUnsafeMutableBytes { s in
                                lk_qmatmul_bwd_data(p, s.baseAddress, &dx, Int64(lddx), dy, Int64(lddy), t, w.baseAddress!, Int64(out), Int64(inn), Int64(T), Int32(acc))
                            }
                            lk_qmatmul_bwd_data(p, nil, &dx2, Int64(lddx), dy, Int64(lddy), t, w.baseAddress!, Int64(out), Int64(inn), Int64(T), Int32(acc))
                        }
                        var got: [Float] = [], expect: [Float] = []
                        for r in 0..<T {
                            for i in 0..<lddx {
                                let k = r * lddx + i
                                if i < inn { got.append(dx[k]); expect.append(ref[k] + (acc == 1 ? dx0[k] : 0)) }
                                else { XCTAssertEqual(dx[k], dx0[k], "padding column written") }
                            }
                        }
                        XCTAssertTrue(scratch[need...].allSatisfy { $0 == 0xA5 }, "wrote past the scratch size")
                        let e = relErr(got, expect)
                        XCTAssertLessThanOrEqual(e, 1e-5, "bwd type \(t.rawValue) T=\(T) out=\(out) in=\(inn) pool#\(pi) acc=\(acc)")
                        XCTAssertEqual(dx.map(\.bitPattern), dx2.map(\.bitPattern), "same pool, NULL scratch: bitwise equal")
                    }
                }
            }
        }
    }

    func testEmptyDimensions() {
        var rng = SplitMix64(seed: 34)
        let (q, _) = weights(LK_Q8_0, 4, 32, &rng)
        var y = QuantTestData.randomFloats(8, &rng), dx = QuantTestData.randomFloats(64, &rng)
        let y0 = y
        q.withUnsafeBytes { w in
            // T = 0: nothing written.
            lk_qmatmul_fwd(nil, nil, &y, 4, [1], 32, LK_Q8_0, w.baseAddress!, 4, 32, 0, 0)
            XCTAssertEqual(y, y0)
            // out = 0: dX = 0 without accumulate.
            lk_qmatmul_bwd_data(nil, nil, &dx, 32, [1], 1, LK_Q8_0, w.baseAddress!, 0, 32, 2, 0)
            XCTAssertEqual(dx, [Float](repeating: 0, count: 64))
            // in not a multiple of the block size: refused, nothing written.
            lk_qmatmul_fwd(nil, nil, &y, 4, [Float](repeating: 1, count: 40), 20, LK_Q8_0, w.baseAddress!, 4, 20, 2, 0)
            XCTAssertEqual(y, y0)
        }
        XCTAssertEqual(lk_qmatmul_scratch_bytes(nil, LK_F32, 10, 10), 0)
        XCTAssertGreaterThan(lk_qmatmul_scratch_bytes(Self.pools[3], LK_Q4_1, 10, 64), lk_qmatmul_scratch_bytes(nil, LK_Q4_1, 10, 64))
    }

    func testSgemmAllTransposes() {
        var rng = SplitMix64(seed: 35)
        for (M, N, K) in [(1, 1, 1), (5, 3, 7), (3, 40, 9), (37, 19, 33), (70, 2, 16), (2, 70, 5)] {
            for ta in [0, 1] {
                for tb in [0, 1] {
                    let lda = (ta == 1 ? M : K) + 3, ldb = (tb == 1 ? K : N) + 2, ldc = N + 4
                    let a = QuantTestData.randomFloats((ta == 1 ? K : M) * lda, &rng)
                    let b = QuantTestData.randomFloats((tb == 1 ? N : K) * ldb, &rng)
                    let c0 = QuantTestData.randomFloats(M * ldc, &rng)
                    let alpha: Float = 0.75, beta: Float = ta == tb ? 0 : -0.5
                    var expect = c0
                    for i in 0..<M {
                        for j in 0..<N {
                            var s = 0.0
                            for k in 0..<K {
                                let av = ta == 1 ? a[k * lda + i] : a[i * lda + k], bv = tb == 1 ? b[j * ldb + k] : b[k * ldb + j]
                                s += Double(av) * Double(bv)
                            }
                            expect[i * ldc + j] = Float(Double(alpha) * s + (beta == 0 ? 0 : Double(beta) * Double(c0[i * ldc + j])))
                        }
                    }
                    for (pi, p) in Self.pools.enumerated() {
                        var c = c0
                        lk_sgemm(p, Int32(ta), Int32(tb), Int64(M), Int64(N), Int64(K), alpha, a, Int64(lda), b, Int64(ldb), beta, &c, Int64(ldc))
                        for i in 0..<(M * ldc) {
                            XCTAssertEqual(c[i], expect[i], accuracy: 1e-5 * Float(K + 1), "M=\(M) N=\(N) K=\(K) tA=\(ta) tB=\(tb) pool#\(pi) at \(i)")
                        }
                    }
                }
            }
        }
    }
}
