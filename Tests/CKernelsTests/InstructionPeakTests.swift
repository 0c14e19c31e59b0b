import CKernels
import XCTest

/// `lk_peak_ops_per_second` times the instruction each product family uses: present exactly where the CPU has the
/// kernel, positive, and (on one core) in a plausible range.
final class InstructionPeakTests: XCTestCase {
    func testPeaksFollowTheCPUFeatures() {
        let f = lk_cpu_features()
        func has<I: BinaryInteger>(_ bit: I) -> Bool { f & UInt32(bit) != 0 }
        let kinds: [(lk_peak_kind, Bool)]
        #if arch(x86_64)
        kinds = [(LK_PEAK_FP32, has(LK_CPU_AVX2) || has(LK_CPU_AVX512)),
                 (LK_PEAK_BF16, has(LK_CPU_AVX512) && has(LK_CPU_AVX512_BF16)),
                 (LK_PEAK_INT8, has(LK_CPU_AVX2) || (has(LK_CPU_AVX512) && has(LK_CPU_AVX512_VNNI)))]
        #elseif arch(arm64)
        kinds = [(LK_PEAK_FP32, has(LK_CPU_NEON)), (LK_PEAK_BF16, false), (LK_PEAK_INT8, has(LK_CPU_NEON_DOTPROD))]
        #else
        kinds = [(LK_PEAK_FP32, false), (LK_PEAK_BF16, false), (LK_PEAK_INT8, false)]
        #endif
        for (kind, present) in kinds {
            let name = String(cString: lk_peak_instruction(kind))
            let ops = lk_peak_ops_per_second(kind, 0.02)
            if present {
                XCTAssertNotEqual(name, "none", "\(kind)")
                // At least 1 GOP/s (any SIMD core), at most 10 TOP/s (no single core issues more).
                XCTAssertGreaterThan(ops, 1e9, name)
                XCTAssertLessThan(ops, 1e13, name)
            } else {
                XCTAssertEqual(name, "none")
                XCTAssertEqual(ops, 0)
            }
        }
    }
}
