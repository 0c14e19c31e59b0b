import CKernels
import XCTest

/// Every SIMD path of the fp32 dot against the scalar reference, on random data and ragged lengths.
final class DotKernelTests: XCTestCase {
    func testSIMDMatchesReference() {
        var rng = SplitMix64(seed: 42)
        for n in [0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 100, 257, 1000, 4099] {
            let a = (0..<n).map { _ in rng.nextFloat() * 2 - 1 }
            let b = (0..<n).map { _ in rng.nextFloat() * 2 - 1 }
            let ref = lk_dot_f32_ref(a, b, n)
            let absSum = zip(a, b).reduce(Float(0)) { $0 + abs($1.0 * $1.1) }
            for isa in [LK_ISA_AVX2, LK_ISA_AVX512, LK_ISA_NEON] where lk_isa_supported(isa) != 0 {
                let got = lk_dot_f32_isa(isa, a, b, n)
                XCTAssertEqual(got, ref, accuracy: 1e-6 * max(absSum, 1), "isa \(String(cString: lk_isa_name(isa))) n=\(n)")
            }
            XCTAssertEqual(lk_dot_f32(a, b, n), ref, accuracy: 1e-6 * max(absSum, 1))
        }
    }

    func testDetectsAnISA() {
        XCTAssertEqual(lk_isa_supported(LK_ISA_SCALAR), 1)
        #if arch(x86_64)
        XCTAssertEqual(lk_isa_supported(LK_ISA_NEON), 0)
        #elseif arch(arm64)
        XCTAssertEqual(lk_isa_supported(LK_ISA_NEON), 1)
        #endif
        XCTAssertEqual(lk_isa_supported(lk_active_isa()), 1)
    }
}
