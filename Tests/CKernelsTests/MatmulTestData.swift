import CKernels
import XCTest

/// Shared data of the product tests.
enum MatmulTestData {
    /// max |got - expect| / max |expect|
    static func relErr(_ got: [Float], _ expect: [Float]) -> Double {
        var e = 0.0, m = 0.0
        for (g, x) in zip(got, expect) { e = max(e, Double(abs(g - x))); m = max(m, Double(abs(x))) }
        return m == 0 ? e : e / m
    }

    /// Random weights of type t [out, in] (quantized from random floats) and the reference-dequantized fp32 copy.
    static func weights(_ t: lk_type, _ out: Int, _ inn: Int, _ rng: inout SplitMix64) -> ([UInt8], [Float]) {
        let w = QuantTestData.randomFloats(out * inn, &rng)
        var q = [UInt8](repeating: 0, count: max(1, out * inn / Int(lk_type_block_size(t)) * Int(lk_type_block_bytes(t))))
        q.withUnsafeMutableBytes { XCTAssertEqual(lk_quantize_row(t, $0.baseAddress!, w, Int64(out * inn)), 0) }
        return (q, QuantTestData.dequantRef(t, q, out * inn))
    }
}
