import CKernels
import XCTest

/// The AVX512-BF16 packing steps of the bf16 products against the scalar ones (the reference layouts),
/// bit for bit, on random data with ragged shapes, ties, infinities and NaN.
final class MatmulBF16PackTests: XCTestCase {
    override func setUpWithError() throws {
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

    func testPairs() {
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

    func testPackRowsAndCols() {
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
}
