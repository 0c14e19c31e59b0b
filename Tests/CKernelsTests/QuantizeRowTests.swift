import CKernels
import XCTest

/// lk_quantize_row: bytes equal to ggml's reference rounding (re-implemented here), round-trip error bounds,
/// plain float types, and refusals.
final class QuantizeRowTests: XCTestCase {
    private func quantize(_ t: lk_type, _ x: [Float]) -> (Int32, [UInt8]) {
        let bytes = x.count / Int(lk_type_block_size(t)) * Int(lk_type_block_bytes(t))
        var y = [UInt8](repeating: 0xAA, count: max(bytes, 1))
        let rc = y.withUnsafeMutableBytes { lk_quantize_row(t, $0.baseAddress!, x, Int64(x.count)) }
        return (rc, Array(y.prefix(bytes)))
    }

    /// ggml's quantize_row_*_ref written out in Swift (fp32 scale for the quants, fp16 scale stored).
    private func ggmlBlock(_ t: lk_type, _ x: ArraySlice<Float>) -> [UInt8] {
        let x = Array(x)
        func h(_ v: Float) -> [UInt8] { let b = Float16(v).bitPattern; return [UInt8(b & 0xff), UInt8(b >> 8)] }
        switch t {
        case LK_Q8_0:
            let amax = x.map(abs).max()!, d = amax / 127, id: Float = d != 0 ? 1 / d : 0
            return h(d) + x.map { UInt8(bitPattern: Int8(($0 * id).rounded(.toNearestOrAwayFromZero))) }
        case LK_Q4_0:
            var amax: Float = 0, mx: Float = 0
            for v in x where amax < abs(v) { amax = abs(v); mx = v }
            let d = mx / -8, id: Float = d != 0 ? 1 / d : 0
            let q = x.map { min(15, Int(Int8(($0 * id + 8.5).rounded(.towardZero)))) }
            return h(d) + (0..<16).map { UInt8(q[$0] | q[$0 + 16] << 4) }
        default: // Q4_1
            let mn = x.min()!, mx = x.max()!, d = (mx - mn) / 15, id: Float = d != 0 ? 1 / d : 0
            let q = x.map { min(15, Int(Int8((($0 - mn) * id + 0.5).rounded(.towardZero)))) }
            return h(d) + h(mn) + (0..<16).map { UInt8(q[$0] | q[$0 + 16] << 4) }
        }
    }

    func testBytesMatchGGMLRounding() {
        var rng = SplitMix64(seed: 21)
        for t in [LK_Q8_0, LK_Q4_0, LK_Q4_1] {
            for scale in [Float(1e-3), 1, 37] {
                let n = 32 * 23
                var x = QuantTestData.randomFloats(n, &rng, scale: scale)
                x[5] = 0; x[40] = -scale // a zero and an extreme value
                for j in 64..<96 { x[j] = 0.25 } // a constant block (d = 0 for Q4_1)
                let (rc, bytes) = quantize(t, x)
                XCTAssertEqual(rc, 0)
                var expect: [UInt8] = []
                for b in 0..<(n / 32) { expect += ggmlBlock(t, x[(32 * b)..<(32 * b + 32)]) }
                XCTAssertEqual(bytes, expect, "type \(t.rawValue) scale \(scale)")
            }
        }
    }

    func testRoundTripErrorBounds() {
        var rng = SplitMix64(seed: 22)
        for t in [LK_Q8_0, LK_Q4_0, LK_Q4_1] {
            for scale in [Float(1e-2), 1, 100] {
                let n = 32 * 40
                let x = QuantTestData.randomFloats(n, &rng, scale: scale)
                let (_, bytes) = quantize(t, x)
                let y = QuantTestData.dequantRef(t, bytes, n)
                let bb = Int(lk_type_block_bytes(t))
                for b in 0..<(n / 32) {
                    let blk = x[(32 * b)..<(32 * b + 32)]
                    // d as computed in fp32 by the quantizer, and the fp16 d actually stored.
                    let d: Float, qmax: Float
                    switch t {
                    case LK_Q8_0: d = blk.map(abs).max()! / 127; qmax = 127
                    case LK_Q4_0: d = blk.map(abs).max()! / 8; qmax = 8
                    default: d = (blk.max()! - blk.min()!) / 15; qmax = 15
                    }
                    let dh = QuantTestData.half(bytes, b * bb)
                    // Half a step of rounding, plus the fp16 rounding of d (times the largest quant) and of m.
                    var bound = d / 2 + qmax * abs(abs(dh) - d) + 1e-6 * scale
                    if t == LK_Q4_1 { bound += abs(QuantTestData.half(bytes, b * bb + 2) - blk.min()!) }
                    if t == LK_Q4_0 { bound += d / 2 } // q = 16 is clamped to 15: the end opposite the max-by-abs element can be a full step off
                    for j in 0..<32 {
                        XCTAssertLessThanOrEqual(abs(y[32 * b + j] - x[32 * b + j]), bound, "type \(t.rawValue) block \(b) el \(j)")
                    }
                }
            }
        }
    }

    func testPlainFloatTypes() {
        var rng = SplitMix64(seed: 23)
        let x = QuantTestData.randomFloats(37, &rng, scale: 1000)
        let (r32, b32) = quantize(LK_F32, x)
        XCTAssertEqual(r32, 0)
        XCTAssertEqual(QuantTestData.dequantRef(LK_F32, b32, 37), x)
        let (r16, b16) = quantize(LK_F16, x)
        XCTAssertEqual(r16, 0)
        XCTAssertEqual(QuantTestData.dequantRef(LK_F16, b16, 37), x.map { Float(Float16($0)) })
        let (rb, bb) = quantize(LK_BF16, x)
        XCTAssertEqual(rb, 0)
        XCTAssertEqual(QuantTestData.dequantRef(LK_BF16, bb, 37).map(\.bitPattern), x.map { UInt32(lk_fp32_to_bf16($0)) << 16 })
    }

    func testRefusals() {
        let x = [Float](repeating: 0.5, count: 256)
        var y = [UInt8](repeating: 0, count: 1024)
        y.withUnsafeMutableBytes { p in
            XCTAssertEqual(lk_quantize_row(lk_type(rawValue: 10), p.baseAddress!, x, 256), -1) // Q2_K
            XCTAssertEqual(lk_quantize_row(lk_type(rawValue: 20), p.baseAddress!, x, 32), -1)  // IQ4_NL
            XCTAssertEqual(lk_quantize_row(LK_Q4_K, p.baseAddress!, x, 128), -2)
            XCTAssertEqual(lk_quantize_row(LK_Q5_0, p.baseAddress!, x, 48), -2)
            XCTAssertEqual(lk_quantize_row(lk_type(rawValue: 5), p.baseAddress!, x, 32), -1)
            XCTAssertEqual(lk_quantize_row(LK_Q8_0, p.baseAddress!, x, 33), -2)
            XCTAssertEqual(lk_quantize_row(LK_Q4_1, p.baseAddress!, x, -32), -2)
        }
    }

    /// Q5_0 / Q5_1 / K-quants: relative RMSE of a round trip on gaussian-like rows, ordered by bits per weight and
    /// within bounds measured for ggml's reference quantizers; every element within a block-local bound.
    func testNewTypesRoundTripError() {
        var rng = SplitMix64(seed: 24)
        let n = 256 * 16
        // Sum of 4 uniforms: bell-shaped like trained weights, with a few larger values.
        let x = (0..<n).map { _ in (0..<4).reduce(Float(0)) { s, _ in s + rng.nextFloat() - 0.5 } * 0.05 }
        let rms = (x.reduce(0) { $0 + Double($1 * $1) } / Double(n)).squareRoot()
        var rel: [String: Double] = [:]
        for (t, bound) in [(LK_Q4_1, 0.09), (LK_Q5_0, 0.06), (LK_Q5_1, 0.045), (LK_Q4_K, 0.075), (LK_Q5_K, 0.038), (LK_Q6_K, 0.02)] {
            let (rc, bytes) = quantize(t, x)
            XCTAssertEqual(rc, 0)
            let y = QuantTestData.dequantRef(t, bytes, n)
            let err = (zip(x, y).reduce(0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(n)).squareRoot() / rms
            let name = String(cString: lk_type_traits_get(t)!.pointee.name)
            rel[name] = err
            XCTAssertLessThan(err, bound, name)
            let maxErr = zip(x, y).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(Double(maxErr), 6 * bound * rms * 4, name)
        }
        XCTAssertLessThan(rel["Q6_K"]!, rel["Q5_K"]!)
        XCTAssertLessThan(rel["Q5_K"]!, rel["Q4_K"]!)
        XCTAssertLessThan(rel["Q5_1"]!, rel["Q4_1"]!)
        XCTAssertLessThan(rel["Q4_K"]!, rel["Q4_1"]!)
        print("relative RMSE of a round trip:", rel.sorted { $0.key < $1.key }.map { "\($0.key) \(String(format: "%.4f", $0.value))" }.joined(separator: ", "))
    }

    /// All-zero and constant rows: scales stay finite and the values come back (zeros exactly).
    func testNewTypesDegenerateRows() {
        for t in [LK_Q5_0, LK_Q5_1, LK_Q4_K, LK_Q5_K, LK_Q6_K] {
            for v: Float in [0, 0.5, -3] {
                let x = [Float](repeating: v, count: 512)
                let (rc, bytes) = quantize(t, x)
                XCTAssertEqual(rc, 0)
                let y = QuantTestData.dequantRef(t, bytes, 512)
                XCTAssertTrue(y.allSatisfy(\.isFinite), "type \(t.rawValue) value \(v)")
                if v == 0 { XCTAssertTrue(y.allSatisfy { $0 == 0 }, "type \(t.rawValue)") }
                else { XCTAssertTrue(y.allSatisfy { abs($0 - v) <= abs(v) * 0.05 }, "type \(t.rawValue) value \(v): \(y[0])") }
            }
        }
    }
}
