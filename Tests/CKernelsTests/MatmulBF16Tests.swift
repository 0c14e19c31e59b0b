import CKernels
import XCTest

/// bf16 frozen-weight products: against a reference written here (inputs rounded to bf16, fp64 sums),
/// the scalar microkernel against AVX512-BF16, the fp32 products within the bf16 tolerance, ragged
/// shapes across panel edges, accumulate, 1-3 threads (bitwise identical).
final class MatmulBF16Tests: XCTestCase {
    static var pools: [OpaquePointer?] = [nil] + (2...3).map { lk_pool_create(Int32($0), nil) }

    private func relErr(_ got: [Float], _ expect: [Float]) -> Double {
        var e = 0.0, m = 0.0
        for (g, x) in zip(got, expect) { e = max(e, Double(abs(g - x))); m = max(m, Double(abs(x))) }
        return m == 0 ? e : e / m
    }

    private func bf(_ x: Float) -> Double { Double(Float(bitPattern: UInt32(lk_f32_to_bf16(x)) << 16)) }

    private func weights(_ t: lk_type, _ out: Int, _ inn: Int, _ rng: inout SplitMix64) -> ([UInt8], [Float]) {
        let w = QuantTestData.randomFloats(out * inn, &rng)
        var q = [UInt8](repeating: 0, count: max(1, out * inn / Int(lk_type_block_size(t)) * Int(lk_type_block_bytes(t))))
        q.withUnsafeMutableBytes { XCTAssertEqual(lk_quantize_row(t, $0.baseAddress!, w, Int64(out * inn)), 0) }
        return (q, QuantTestData.dequantRef(t, q, out * inn))
    }

    let shapes: [(T: Int, out: Int, in: Int)] = [(1, 37, 64), (13, 70, 96), (9, 600, 576), (17, 45, 1056), (3, 300, 544)]
    let types: [lk_type] = [LK_Q4_1, LK_Q8_0, LK_Q4_0, LK_F32, LK_Q5_0, LK_Q5_1, LK_Q4_K, LK_Q5_K, LK_Q6_K]
    /// K-quants: `in` of whole 256-element super-blocks, across the 512-element panels; with 3 threads the dX
    /// columns split on super-block boundaries.
    let kShapes: [(T: Int, out: Int, in: Int)] = [(1, 37, 256), (9, 600, 512), (17, 45, 1280), (3, 300, 768)]
    func shapes(_ t: lk_type) -> [(T: Int, out: Int, in: Int)] {
        if lk_type_block_size(t) == 256 { return kShapes }
        return t == LK_Q5_0 || t == LK_Q5_1 ? Array(shapes.prefix(3)) : shapes
    }

    func testRoundingToBF16() {
        XCTAssertEqual(lk_f32_to_bf16(1.0), 0x3f80)
        XCTAssertEqual(lk_f32_to_bf16(Float(bitPattern: 0x3f80_8000)), 0x3f80)      // tie → even
        XCTAssertEqual(lk_f32_to_bf16(Float(bitPattern: 0x3f81_8000)), 0x3f82)      // tie → even (up)
        XCTAssertEqual(lk_f32_to_bf16(Float(bitPattern: 0x3f80_8001)), 0x3f81)
        XCTAssertTrue(Float(bitPattern: UInt32(lk_f32_to_bf16(.nan)) << 16).isNaN)
    }

    func testForwardAndBackward() {
        var rng = SplitMix64(seed: 71)
        let isas = [LK_ISA_SCALAR] + (lk_bf16_matmul_native() != 0 ? [LK_ISA_AVX512] : [])
        for t in types {
            for s in shapes(t) {
                let (q, w) = weights(t, s.out, s.in, &rng)
                let x = QuantTestData.randomFloats(s.T * s.in, &rng), dy = QuantTestData.randomFloats(s.T * s.out, &rng)
                let y0 = QuantTestData.randomFloats(s.T * s.out, &rng), dx0 = QuantTestData.randomFloats(s.T * s.in, &rng)
                // References: bf16-rounded inputs, fp64 sums; and the fp32 products.
                var yRef = [Float](repeating: 0, count: s.T * s.out), dxRef = [Float](repeating: 0, count: s.T * s.in)
                for r in 0..<s.T {
                    for o in 0..<s.out {
                        var a = 0.0
                        for i in 0..<s.in { a += bf(x[r * s.in + i]) * bf(w[o * s.in + i]) }
                        yRef[r * s.out + o] = Float(a)
                    }
                    for i in 0..<s.in {
                        var a = 0.0
                        for o in 0..<s.out { a += bf(dy[r * s.out + o]) * bf(w[o * s.in + i]) }
                        dxRef[r * s.in + i] = Float(a)
                    }
                }
                var y32 = yRef, dx32 = dxRef
                q.withUnsafeBytes { qp in
                    let W = qp.baseAddress!
                    lk_qmatmul_fwd_ref(&y32, Int64(s.out), x, Int64(s.in), t, W, Int64(s.out), Int64(s.in), Int64(s.T))
                    lk_qmatmul_bwd_data_ref(&dx32, Int64(s.in), dy, Int64(s.out), t, W, Int64(s.out), Int64(s.in), Int64(s.T))
                    var yr = yRef
                    lk_qmatmul_fwd_bf16_ref(&yr, Int64(s.out), x, Int64(s.in), t, W, Int64(s.out), Int64(s.in), Int64(s.T))
                    XCTAssertLessThan(relErr(yr, yRef), 1e-6, "C reference \(t) \(s)")
                    XCTAssertLessThan(relErr(yRef, y32), 1.5e-2, "bf16 vs fp32 forward \(t) \(s)")
                    XCTAssertLessThan(relErr(dxRef, dx32), 1.5e-2, "bf16 vs fp32 backward \(t) \(s)")
                    for isa in isas {
                        var first: ([Float], [Float])?
                        for pool in Self.pools {
                            var y = y0, dx = dx0
                            lk_qmatmul_fwd_bf16_isa(isa, pool, &y, Int64(s.out), x, Int64(s.in), t, W, Int64(s.out), Int64(s.in), Int64(s.T), 0)
                            lk_qmatmul_bwd_data_bf16_isa(isa, pool, &dx, Int64(s.in), dy, Int64(s.out), t, W, Int64(s.out), Int64(s.in), Int64(s.T), 0)
                            XCTAssertLessThan(relErr(y, yRef), 2e-6, "fwd \(isa) \(t) \(s)")
                            XCTAssertLessThan(relErr(dx, dxRef), 2e-6, "bwd \(isa) \(t) \(s)")
                            if let first { XCTAssertEqual(first.0, y); XCTAssertEqual(first.1, dx) } else { first = (y, dx) }
                            // accumulate adds to the old contents
                            var ya = y0, dxa = dx0
                            lk_qmatmul_fwd_bf16_isa(isa, pool, &ya, Int64(s.out), x, Int64(s.in), t, W, Int64(s.out), Int64(s.in), Int64(s.T), 1)
                            lk_qmatmul_bwd_data_bf16_isa(isa, pool, &dxa, Int64(s.in), dy, Int64(s.out), t, W, Int64(s.out), Int64(s.in), Int64(s.T), 1)
                            XCTAssertLessThan(relErr(ya, zip(y0, yRef).map { $0 + $1 }), 2e-6, "fwd accumulate \(isa) \(t) \(s)")
                            XCTAssertLessThan(relErr(dxa, zip(dx0, dxRef).map { $0 + $1 }), 2e-6, "bwd accumulate \(isa) \(t) \(s)")
                        }
                    }
                }
            }
        }
    }
}
