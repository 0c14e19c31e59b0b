import CKernels
import XCTest

/// The AVX512-BF16 packing steps of the bf16 products against the scalar ones (the reference layouts),
/// bit for bit, on random data with ragged shapes, ties, infinities and NaN; and the products on a W packed
/// once (the bf16 LM head) against the products that pack per call, bit for bit, scalar and AVX512-BF16.
final class MatmulBF16PackTests: XCTestCase {
    static var pools: [OpaquePointer?] = [nil] + (2...3).map { lk_pool_create(Int32($0), nil) }

    private func requireNative() throws {
        try XCTSkipUnless(lk_bf16_matmul_native() != 0, "this CPU has no AVX512-BF16: only the scalar packing runs")
    }

    /// Random values of mixed magnitude with a few rounding ties, ±inf and NaN sprinkled in (no denormals:
    /// vcvtne2ps2bf16 reads them as 0, documented).
    private func values(_ n: Int, _ rng: inout SplitMix64) -> [Float] {
        (0..<n).map { _ in
            let r = rng.next()
            switch r % 97 {
            case 0: return Float(bitPattern: 0x3f80_8000 | UInt32(truncatingIfNeeded: r >> 40) & 0x3fff_0000)   // tie
            case 1: return Float(bitPattern: 0x4041_8000)                                                      // tie, odd
            case 2: return r & 1 == 0 ? .infinity : -.infinity
            case 3: return .nan
            case 4: return -0.0
            default:
                let m = (rng.nextFloat() - 0.5) * 8
                return m * Float(sign: .plus, exponent: Int(r >> 59) - 8, significand: 1)
            }
        }
    }

    private func check(_ a: [UInt32], _ b: [UInt32], _ what: String) {
        XCTAssertEqual(a.count, b.count)
        var bad = 0
        for (x, y) in zip(a, b) where x != y {
            if bad < 3 { XCTFail("\(what): \(String(x, radix: 16)) vs \(String(y, radix: 16))") }
            bad += 1
        }
        XCTAssertEqual(bad, 0, what)
    }

    func testPairs() throws {
        try requireNative()
        var rng = SplitMix64(seed: 5)
        for n in [1, 2, 15, 16, 31, 32, 33, 63, 64, 65, 577, 1000] {
            let x = values(n + 7, &rng)
            let kp = (n + 1) / 2
            var a = [UInt32](repeating: 0xdead_beef, count: kp + 5), b = a
            lk_bf16_pairs_isa(LK_ISA_SCALAR, &a, x, Int64(n))
            lk_bf16_pairs_isa(LK_ISA_AVX512, &b, x, Int64(n))
            check(a, b, "pairs n=\(n)")   // including the 5 guard words past kp (untouched)
            if n % 2 == 1 { XCTAssertEqual(a[kp - 1] >> 16, 0, "odd end pads with 0") }
        }
    }

    func testPackRowsAndCols() throws {
        try requireNative()
        var rng = SplitMix64(seed: 6)
        // (d0, d1, ld): pack_rows: nb = d0, kc = d1; pack_cols: kc = d0, nb = d1.
        let shapes = [(1, 1, 3), (5, 7, 9), (32, 32, 32), (33, 31, 40), (70, 96, 101), (256, 512, 512), (13, 65, 70),
                      (100, 33, 33), (31, 17, 20)]
        for (d0, d1, ld) in shapes {
            let w = values(max(d0, d1) * ld + ld, &rng)
            // rows: w [nb, kc]
            do {
                let nb = d0, kc = d1
                let size = (nb + 31) / 32 * ((kc + 1) / 2) * 32
                var a = [UInt32](repeating: 0xdead_beef, count: size + 3), b = a
                lk_bf16_pack_rows_isa(LK_ISA_SCALAR, &a, w, Int64(ld), Int64(nb), Int64(kc))
                lk_bf16_pack_rows_isa(LK_ISA_AVX512, &b, w, Int64(ld), Int64(nb), Int64(kc))
                check(a, b, "rows nb=\(nb) kc=\(kc) ld=\(ld)")
                XCTAssertEqual(a[size], 0xdead_beef)
            }
            // cols: w [kc, nb]
            do {
                let kc = d0, nb = min(d1, ld)
                let size = (nb + 31) / 32 * ((kc + 1) / 2) * 32
                var a = [UInt32](repeating: 0xdead_beef, count: size + 3), b = a
                lk_bf16_pack_cols_isa(LK_ISA_SCALAR, &a, w, Int64(ld), Int64(kc), Int64(nb))
                lk_bf16_pack_cols_isa(LK_ISA_AVX512, &b, w, Int64(ld), Int64(kc), Int64(nb))
                check(a, b, "cols kc=\(kc) nb=\(nb) ld=\(ld)")
                XCTAssertEqual(a[size], 0xdead_beef)
            }
        }
    }

    func testPackedProductsMatchPerCallPacking() {
        var rng = SplitMix64(seed: 8)
        let isas = [LK_ISA_SCALAR] + (lk_bf16_matmul_native() != 0 ? [LK_ISA_AVX512] : [])
        // (T, out, in): across the 512-element panels, 256-column panels, odd `out` (a zero pair at the end).
        let shapes = [(5, 37, 64), (13, 601, 96), (9, 75, 1056), (20, 300, 544), (1, 1, 32)]
        for t in [LK_Q8_0, LK_Q4_1, LK_F32, LK_Q5_1, LK_Q4_K, LK_Q6_K] {
            let kShapes = [(5, 37, 256), (9, 75, 1280), (3, 300, 768)]
            for (T, out, inn) in lk_type_block_size(t) == 256 ? kShapes : shapes {
                let w = QuantTestData.randomFloats(out * inn, &rng)
                var q = [UInt8](repeating: 0, count: out * inn / Int(lk_type_block_size(t)) * Int(lk_type_block_bytes(t)))
                q.withUnsafeMutableBytes { XCTAssertEqual(lk_quantize_row(t, $0.baseAddress!, w, Int64(out * inn)), 0) }
                let x = QuantTestData.randomFloats(T * inn, &rng), dy = QuantTestData.randomFloats(T * out, &rng)
                let y0 = QuantTestData.randomFloats(T * out, &rng), dx0 = QuantTestData.randomFloats(T * inn, &rng)
                for isa in isas {
                    for pool in Self.pools {
                        var pf = [UInt32](repeating: 0, count: Int(lk_bf16_packed_bytes(Int64(out), Int64(inn), 0)) / 4)
                        var pb = [UInt32](repeating: 0, count: Int(lk_bf16_packed_bytes(Int64(out), Int64(inn), 1)) / 4)
                        q.withUnsafeBytes { qp in
                            XCTAssertEqual(lk_bf16_pack_weights_isa(isa, pool, &pf, t, qp.baseAddress, Int64(out), Int64(inn), 0), 0)
                            XCTAssertEqual(lk_bf16_pack_weights_isa(isa, pool, &pb, t, qp.baseAddress, Int64(out), Int64(inn), 1), 0)
                        }
                        for acc: Int32 in [0, 1] {
                            var y = y0, yp = y0, dx = dx0, dxp = dx0
                            q.withUnsafeBytes { qp in
                                let W = qp.baseAddress!
                                lk_qmatmul_fwd_bf16_isa(isa, pool, &y, Int64(out), x, Int64(inn), t, W, Int64(out), Int64(inn), Int64(T), acc)
                                lk_qmatmul_bwd_data_bf16_isa(isa, pool, &dx, Int64(inn), dy, Int64(out), t, W, Int64(out), Int64(inn), Int64(T), acc)
                            }
                            lk_matmul_fwd_bf16_packed_isa(isa, pool, &yp, Int64(out), x, Int64(inn), pf, Int64(out), Int64(inn), Int64(T), acc)
                            lk_matmul_bwd_data_bf16_packed_isa(isa, pool, &dxp, Int64(inn), dy, Int64(out), pb, Int64(out), Int64(inn), Int64(T), acc)
                            let what = "\(t) T=\(T) out=\(out) in=\(inn) isa=\(isa) acc=\(acc)"
                            XCTAssertEqual(y.map(\.bitPattern), yp.map(\.bitPattern), "fwd " + what)
                            XCTAssertEqual(dx.map(\.bitPattern), dxp.map(\.bitPattern), "bwd " + what)
                            XCTAssertNotEqual(y, y0, what)
                        }
                    }
                }
            }
        }
    }
}
