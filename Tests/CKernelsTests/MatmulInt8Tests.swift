import CKernels
import XCTest

/// int8 frozen-weight products (both operands quantized per 256 along the summed dimension): the quantizer, the
/// products against the spec (lk_int8_dot_ref and an independent Swift spec for backward-data, exact integer sums:
/// 1e-5 relative), scalar / NEON dotprod / AVX2 / AVX512-VNNI and 1-3 threads bitwise identical, ragged shapes
/// across panel edges and short last groups, accumulate, and the distance to the fp32 products.
final class MatmulInt8Tests: XCTestCase {
    static var pools: [OpaquePointer?] = [nil] + (2...3).map { lk_pool_create(Int32($0), nil) }

    private func relErr(_ got: [Float], _ expect: [Float]) -> Double { MatmulTestData.relErr(got, expect) }
    private func weights(_ t: lk_type, _ out: Int, _ inn: Int, _ rng: inout SplitMix64) -> ([UInt8], [Float]) {
        MatmulTestData.weights(t, out, inn, &rng)
    }

    let types: [lk_type] = [LK_Q8_0, LK_Q4_0, LK_Q4_1, LK_Q5_0, LK_Q5_1, LK_Q4_K, LK_Q5_K, LK_Q6_K]
    func shapes(_ t: lk_type) -> [(T: Int, out: Int, in: Int)] {
        // The last two of each cross the 2,048-element panels along the summed dimension (forward `in`,
        // backward `out`), with a short last panel and group.
        lk_type_block_size(t) == 256 ? [(1, 37, 256), (9, 300, 512), (6, 45, 1280), (2, 530, 256), (2, 40, 4352), (2, 2336, 256)]
            : [(1, 37, 64), (13, 70, 96), (9, 300, 576), (5, 45, 1056), (3, 600, 64), (2, 40, 4160), (2, 2080, 96)]
    }
    var isas: [lk_isa] { [LK_ISA_SCALAR] + [LK_ISA_NEON, LK_ISA_AVX2, LK_ISA_AVX512].filter { lk_isa_supported($0) != 0 } }

    let G = Int(LK_INT8_GROUP)

    /// Per-group quantization of one row (the reference); the last group may be shorter.
    private func quantize(_ x: ArraySlice<Float>, _ G: Int) -> (q: [Int8], d: [Float]) {
        let n = x.count
        var q = [Int8](repeating: 0, count: n), d = [Float](repeating: 0, count: (n + G - 1) / G)
        Array(x).withUnsafeBufferPointer { lk_int8_quantize_row_ref(&q, &d, $0.baseAddress!, Int64(n), Int32(G)) }
        return (q, d)
    }

    /// The smoothing multipliers of x [T, n] (lk_int8_smoothing_ref) and their inverses.
    private func smoothing(_ x: [Float], T: Int, n: Int) -> (s: [Float], inv: [Float]) {
        var s = [Float](repeating: 0, count: n)
        lk_int8_smoothing_ref(&s, x, Int64(n), Int64(T), Int64(n))
        return (s, s.map { 1 / $0 })
    }

    func testSmoothing() {
        // Channel 1 is an outlier, channel 2 all zero: √max, 1 for zero.
        let x: [Float] = [1, -400, 0, 0.25, 2, 100, 0, -9]
        let (s, _) = smoothing(x, T: 2, n: 4)
        XCTAssertEqual(s, [Float(2).squareRoot(), 20, 1, 3])
    }

    func testTypesAndGroups() {
        XCTAssertEqual(G, 256)
        XCTAssertEqual(lk_int8_type_supported(LK_Q6_K), 1)
        XCTAssertEqual(lk_int8_type_supported(LK_Q4_1), 1)
        XCTAssertEqual(lk_int8_type_supported(LK_F32), 0)
        XCTAssertEqual(lk_int8_type_supported(LK_BF16), 0)
        XCTAssertEqual(lk_int8_scratch_bytes(2, 0, 64), 0)
    }

    func testQuantizeRow() {
        var rng = SplitMix64(seed: 5)
        let x = QuantTestData.randomFloats(576, &rng, scale: 3)
        for G in [32, 256] {
            let (q, d) = quantize(x[...], G)
            XCTAssertEqual(d.count, (576 + G - 1) / G)
            for g in 0..<d.count {
                let range = (g * G)..<min(576, g * G + G)
                let amax = x[range].map { abs($0) }.max()!
                XCTAssertEqual(d[g], amax / 127)
                for k in range {
                    XCTAssertLessThanOrEqual(abs(x[k] - d[g] * Float(q[k])), d[g] * 0.5001)
                    XCTAssertLessThanOrEqual(abs(Int(q[k])), 127)
                }
            }
        }
    }

    func testForward() {
        var rng = SplitMix64(seed: 17)
        for t in types {
            var worst = 0.0
            for s in shapes(t) {
                let (q, _) = weights(t, s.out, s.in, &rng)
                let x = QuantTestData.randomFloats(s.T * s.in, &rng), y0 = QuantTestData.randomFloats(s.T * s.out, &rng)
                var spec = [Float](repeating: 0, count: s.T * s.out), y32 = spec
                let rowBytes = s.in / Int(lk_type_block_size(t)) * Int(lk_type_block_bytes(t))
                let (sm, inv) = smoothing(x, T: s.T, n: s.in)
                q.withUnsafeBytes { qp in
                    let W = qp.baseAddress!
                    for r in 0..<s.T {
                        let xs = (0..<s.in).map { x[r * s.in + $0] * inv[$0] }
                        let (xq, d) = quantize(xs[...], G)
                        for o in 0..<s.out {
                            spec[r * s.out + o] = Float(lk_int8_dot_ref(t, W + o * rowBytes, sm, xq, d, Int64(s.in)))
                        }
                    }
                    lk_qmatmul_fwd_ref(&y32, Int64(s.out), x, Int64(s.in), t, W, Int64(s.out), Int64(s.in), Int64(s.T))
                    worst = max(worst, relErr(spec, y32))
                    var first: [Float]?
                    for isa in isas {
                        for pool in Self.pools {
                            var y = y0
                            lk_qmatmul_fwd_int8_isa(isa, pool, nil, &y, Int64(s.out), x, Int64(s.in), t, W, Int64(s.out), Int64(s.in), Int64(s.T), 0)
                            XCTAssertLessThan(relErr(y, spec), 1e-5, "\(t) \(s) \(isa)")
                            if let first { XCTAssertEqual(y, first, "bitwise \(t) \(s) isa \(isa)") } else { first = y }
                            var ya = y0
                            let scratch = UnsafeMutableRawPointer.allocate(byteCount: lk_int8_scratch_bytes(lk_pool_size(pool), Int64(s.T), Int64(s.in)) + 1, alignment: 1)
                            lk_qmatmul_fwd_int8_isa(isa, pool, scratch + 1, &ya, Int64(s.out), x, Int64(s.in), t, W, Int64(s.out), Int64(s.in), Int64(s.T), 1)
                            scratch.deallocate()
                            XCTAssertLessThan(relErr(ya, zip(y0, y).map { $0 + $1 }), 1e-6, "accumulate \(t) \(s)")
                        }
                    }
                }
            }
            XCTAssertLessThan(worst, 2e-2, "int8 vs fp32 forward \(t)")
            print("int8 forward vs fp32, \(String(cString: lk_type_traits_get(t).pointee.name)): max |Δ| / max |y| = \(String(format: "%.2e", worst))")
        }
    }

    func testBackwardData() {
        var rng = SplitMix64(seed: 23)
        for t in types {
            var worst = 0.0
            for s in shapes(t) {
                let out = (s.out + 31) / 32 * 32
                let (q, w) = weights(t, out, s.in, &rng)
                let dy = QuantTestData.randomFloats(s.T * out, &rng), dx0 = QuantTestData.randomFloats(s.T * s.in, &rng)
                // Spec: dY's channels (W's rows) smoothed, W requantized per 256 rows of each column (the last
                // group shorter), dY per 256 of each row, exact integer sums.
                let (sm, inv) = smoothing(dy, T: s.T, n: out)
                var spec = [Float](repeating: 0, count: s.T * s.in), dx32 = spec
                let ng = (out + G - 1) / G
                var wi = [Int8](repeating: 0, count: out * s.in), sw = [Float](repeating: 0, count: ng * s.in)
                for i in 0..<s.in {
                    let (c, d) = quantize((0..<out).map { w[$0 * s.in + i] * sm[$0] }[...], G)
                    for k in 0..<out { wi[k * s.in + i] = c[k] }
                    for g in 0..<ng { sw[g * s.in + i] = d[g] }
                }
                for r in 0..<s.T {
                    let (yq, d) = quantize((0..<out).map { dy[r * out + $0] * inv[$0] }[...], G)
                    for i in 0..<s.in {
                        var a = 0.0
                        for g in 0..<ng {
                            var isum = 0
                            for k in (g * G)..<min(out, g * G + G) { isum += Int(yq[k]) * Int(wi[k * s.in + i]) }
                            a += Double(d[g]) * Double(sw[g * s.in + i]) * Double(isum)
                        }
                        spec[r * s.in + i] = Float(a)
                    }
                }
                q.withUnsafeBytes { qp in
                    let W = qp.baseAddress!
                    lk_qmatmul_bwd_data_ref(&dx32, Int64(s.in), dy, Int64(out), t, W, Int64(out), Int64(s.in), Int64(s.T))
                    worst = max(worst, relErr(spec, dx32))
                    var first: [Float]?
                    for isa in isas {
                        for pool in Self.pools {
                            var dx = dx0
                            lk_qmatmul_bwd_data_int8_isa(isa, pool, nil, &dx, Int64(s.in), dy, Int64(out), t, W, Int64(out), Int64(s.in), Int64(s.T), 0)
                            XCTAssertLessThan(relErr(dx, spec), 1e-5, "\(t) \(s) \(isa)")
                            if let first { XCTAssertEqual(dx, first, "bitwise \(t) \(s) isa \(isa)") } else { first = dx }
                            var da = dx0
                            lk_qmatmul_bwd_data_int8_isa(isa, pool, nil, &da, Int64(s.in), dy, Int64(out), t, W, Int64(out), Int64(s.in), Int64(s.T), 1)
                            XCTAssertLessThan(relErr(da, zip(dx0, dx).map { $0 + $1 }), 1e-6, "accumulate \(t) \(s)")
                        }
                    }
                }
            }
            XCTAssertLessThan(worst, 3e-2, "int8 vs fp32 backward-data \(t)")
            print("int8 backward-data vs fp32, \(String(cString: lk_type_traits_get(t).pointee.name)): max |Δ| / max |dx| = \(String(format: "%.2e", worst))")
        }
    }
}
