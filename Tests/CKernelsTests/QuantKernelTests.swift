import CKernels
import XCTest

/// Helpers shared by the block-format and matmul tests.
enum QuantTestData {
    static let allTypes: [lk_type] = [LK_F32, LK_F16, LK_BF16, LK_Q8_0, LK_Q4_0, LK_Q4_1, LK_Q5_0, LK_Q5_1, LK_Q4_K,
                                      LK_Q5_K, LK_Q6_K]
    /// Every type is multiplied by the products (the traits table).
    static let computeTypes: [lk_type] = allTypes
    /// Block types with blocks wider than 32 elements (panels must follow the 256-element super-blocks).
    static let kTypes: [lk_type] = [LK_Q4_K, LK_Q5_K, LK_Q6_K]
    static let isas: [lk_isa] = [LK_ISA_SCALAR, LK_ISA_AVX2, LK_ISA_AVX512, LK_ISA_NEON]

    static func name(_ t: lk_type) -> String { "type \(t.rawValue)" }

    /// A random finite fp16 bit pattern: a random float in ±[2^-12, 2) rounded by Swift's own Float16.
    static func randomHalfBits(_ rng: inout SplitMix64) -> UInt16 {
        let mag = Float(pow(2.0, Double(rng.nextFloat()) * 13 - 12))
        return Float16(rng.next() & 1 == 0 ? mag : -mag).bitPattern
    }

    /// Random blocks of type t for n elements: random bytes with every scale field a real fp16 value
    /// (F16/BF16: random finite values; F32: random floats).
    static func randomRow(_ t: lk_type, _ n: Int, _ rng: inout SplitMix64) -> [UInt8] {
        let bs = Int(lk_type_block_size(t)), bb = Int(lk_type_block_bytes(t)), nb = n / bs
        var bytes = (0..<(nb * bb)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        func put(_ v: UInt16, _ o: Int) { bytes[o] = UInt8(v & 0xff); bytes[o + 1] = UInt8(v >> 8) }
        for b in 0..<nb {
            let o = b * bb
            switch t {
            case LK_F32:
                let f = (rng.nextFloat() * 2 - 1) * 3
                withUnsafeBytes(of: f.bitPattern.littleEndian) { for k in 0..<4 { bytes[o + k] = $0[k] } }
            case LK_F16: put(randomHalfBits(&rng), o)
            case LK_BF16: put(UInt16((rng.nextFloat() * 2 - 1).bitPattern >> 16), o)
            case LK_Q8_0, LK_Q4_0, LK_Q5_0: put(randomHalfBits(&rng), o)
            case LK_Q4_1, LK_Q5_1, LK_Q4_K, LK_Q5_K: put(randomHalfBits(&rng), o); put(randomHalfBits(&rng), o + 2)
            case LK_Q6_K: put(randomHalfBits(&rng), o + 208)
            default: break
            }
        }
        return bytes
    }

    static func randomFloats(_ n: Int, _ rng: inout SplitMix64, scale: Float = 1) -> [Float] {
        (0..<n).map { _ in (rng.nextFloat() * 2 - 1) * scale }
    }

    static func dequantRef(_ t: lk_type, _ bytes: [UInt8], _ n: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: n)
        bytes.withUnsafeBytes { lk_dequantize_row_ref(t, &y, $0.baseAddress!, Int64(n)) }
        return y
    }

    /// The first 16 bytes of a Q4_K / Q5_K block: fp16 d and dmin, then 8 scales and 8 mins (6 bits each) packed as
    /// ggml documents: scales[0..3] = sc[0..3] | (sc[4..7] >> 4) << 6; scales[4..7] = mn[0..3] | (mn[4..7] >> 4) << 6;
    /// scales[8..11] = (sc[4..7] & 15) | (mn[4..7] & 15) << 4.
    static func kHeader(_ dBits: UInt16, _ mBits: UInt16, _ sc: [UInt8], _ mn: [UInt8]) -> [UInt8] {
        var h = [UInt8(dBits & 0xff), UInt8(dBits >> 8), UInt8(mBits & 0xff), UInt8(mBits >> 8)] + [UInt8](repeating: 0, count: 12)
        for j in 0..<4 {
            h[4 + j] = sc[j] | ((sc[j + 4] >> 4) << 6)
            h[4 + j + 4] = mn[j] | ((mn[j + 4] >> 4) << 6)
            h[4 + j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4)
        }
        return h
    }

    static func half(_ b: [UInt8], _ o: Int) -> Float { Float(Float16(bitPattern: UInt16(b[o]) | UInt16(b[o + 1]) << 8)) }
}

/// Block formats: float conversions against Swift's own Float16 / bit rules, every ISA against the reference
/// bit for bit, the reference against the documented formulas, quantization against ggml's rounding rules.
final class QuantKernelTests: XCTestCase {
    func testBlockTable() {
        let expect: [(lk_type, Int64, Int64, String)] = [
            (LK_F32, 1, 4, "F32"), (LK_F16, 1, 2, "F16"), (LK_BF16, 1, 2, "BF16"), (LK_Q8_0, 32, 34, "Q8_0"),
            (LK_Q4_0, 32, 18, "Q4_0"), (LK_Q4_1, 32, 20, "Q4_1"), (LK_Q5_0, 32, 22, "Q5_0"), (LK_Q5_1, 32, 24, "Q5_1"),
            (LK_Q4_K, 256, 144, "Q4_K"), (LK_Q5_K, 256, 176, "Q5_K"), (LK_Q6_K, 256, 210, "Q6_K")]
        for (t, bs, bb, name) in expect {
            XCTAssertEqual(lk_type_block_size(t), bs)
            XCTAssertEqual(lk_type_block_bytes(t), bb)
            let tt = lk_type_traits_get(t)!.pointee
            XCTAssertEqual(tt.type, t)
            XCTAssertEqual(String(cString: tt.name), name)
            XCTAssertEqual(tt.bits_per_weight, 8 * Double(bb) / Double(bs))
            XCTAssertNotNil(tt.dequantize.0, name)
            XCTAssertNotNil(tt.quantize, name)
        }
        XCTAssertEqual(QuantTestData.allTypes.count, expect.count)
        for id: UInt32 in [9, 10, 11, 15, 16, 20, 23, 99] { // Q8_1, Q2_K, Q3_K, Q8_K, IQ2_XXS, IQ4_NL, IQ4_XS, unknown
            XCTAssertNil(lk_type_traits_get(lk_type(rawValue: id)))
            XCTAssertEqual(lk_type_block_size(lk_type(rawValue: id)), 0)
        }
        XCTAssertEqual(lk_type_block_bytes(lk_type(rawValue: 99)), 0)
        XCTAssertEqual(MemoryLayout<lk_block_q8_0>.size, 34)
        XCTAssertEqual(MemoryLayout<lk_block_q4_0>.size, 18)
        XCTAssertEqual(MemoryLayout<lk_block_q4_1>.size, 20)
        XCTAssertEqual(MemoryLayout<lk_block_q5_0>.size, 22)
        XCTAssertEqual(MemoryLayout<lk_block_q5_1>.size, 24)
        XCTAssertEqual(MemoryLayout<lk_block_q4_K>.size, 144)
        XCTAssertEqual(MemoryLayout<lk_block_q5_K>.size, 176)
        XCTAssertEqual(MemoryLayout<lk_block_q6_K>.size, 210)
    }

    func testFP16EdgeValues() {
        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3c00), (-2, 0xc000), (65504, 0x7bff), (65519.996, 0x7bff),
            (65520, 0x7c00), (1e10, 0x7c00), (.infinity, 0x7c00), (-.infinity, 0xfc00),
            (Float(sign: .plus, exponent: -24, significand: 1), 0x0001), // smallest subnormal
            (Float(sign: .plus, exponent: -25, significand: 1), 0x0000), // tie -> even (0)
            (Float(sign: .plus, exponent: -25, significand: 3), 0x0002), // 1.5 ulp -> 2
            (Float(sign: .plus, exponent: -14, significand: 1), 0x0400), // smallest normal
            (Float(sign: .plus, exponent: -14, significand: 1) - Float(sign: .plus, exponent: -26, significand: 1), 0x0400),
            (1 + Float(sign: .plus, exponent: -11, significand: 1), 0x3c00), // tie -> even
            (1 + Float(sign: .plus, exponent: -11, significand: 3), 0x3c02), // tie -> even (up)
            (0.333333343, 0x3555),
        ]
        for (f, h) in cases { XCTAssertEqual(lk_fp32_to_fp16(f), h, "fp32->fp16 \(f)") }
        XCTAssertTrue(lk_fp16_to_fp32(lk_fp32_to_fp16(.nan)).isNaN)
        XCTAssertEqual(lk_fp16_to_fp32(0x0001), Float(sign: .plus, exponent: -24, significand: 1))
        XCTAssertEqual(lk_fp16_to_fp32(0x7bff), 65504)
        XCTAssertEqual(lk_fp16_to_fp32(0xfc00), -.infinity)
        XCTAssertTrue(lk_fp16_to_fp32(0x7e00).isNaN)
        // Every half value against Swift's Float16, and back.
        for h in 0...UInt16.max {
            let f = lk_fp16_to_fp32(h), swift = Float(Float16(bitPattern: h))
            if swift.isNaN { XCTAssertTrue(f.isNaN); continue }
            XCTAssertEqual(f.bitPattern, swift.bitPattern, "half 0x\(String(h, radix: 16))")
            XCTAssertEqual(lk_fp32_to_fp16(f), h)
        }
        // Random floats of every magnitude against Swift's (round-to-nearest-even) conversion.
        var rng = SplitMix64(seed: 3)
        for _ in 0..<200_000 {
            let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            if f.isNaN { XCTAssertTrue(lk_fp16_to_fp32(lk_fp32_to_fp16(f)).isNaN); continue }
            XCTAssertEqual(lk_fp32_to_fp16(f), Float16(f).bitPattern, "\(f)")
        }
    }

    func testBF16EdgeValues() {
        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3f80), (-2, 0xc000), (.infinity, 0x7f80), (-.infinity, 0xff80),
            (1 + Float(sign: .plus, exponent: -8, significand: 1), 0x3f80), // tie -> even
            (1 + Float(sign: .plus, exponent: -8, significand: 3), 0x3f82), // tie -> even (up)
            (1 + Float(sign: .plus, exponent: -8, significand: 1.0001), 0x3f81),
            (.greatestFiniteMagnitude, 0x7f80), (Float(bitPattern: 0x0000_8000), 0x0000), (Float(bitPattern: 0x0001_8000), 0x0002),
        ]
        for (f, h) in cases { XCTAssertEqual(lk_fp32_to_bf16(f), h, "fp32->bf16 \(f)") }
        XCTAssertTrue(lk_bf16_to_fp32(lk_fp32_to_bf16(.nan)).isNaN)
        XCTAssertTrue(lk_bf16_to_fp32(lk_fp32_to_bf16(Float(bitPattern: 0x7f80_0001))).isNaN) // signalling NaN stays NaN
        for h in stride(from: 0, through: 0xffff, by: 1) {
            let f = lk_bf16_to_fp32(UInt16(h))
            XCTAssertEqual(f.bitPattern, UInt32(h) << 16)
            if !f.isNaN { XCTAssertEqual(lk_fp32_to_bf16(f), UInt16(h)) }
        }
        // Independent rule on random floats: nearest bf16 by distance, ties to even mantissa.
        var rng = SplitMix64(seed: 4)
        for _ in 0..<100_000 {
            let u = UInt32(truncatingIfNeeded: rng.next()) & 0x7f7f_ffff // finite, below the inf boundary
            let lo = u >> 16, rem = u & 0xffff
            let expect = rem > 0x8000 || (rem == 0x8000 && lo & 1 == 1) ? lo + 1 : lo
            XCTAssertEqual(lk_fp32_to_bf16(Float(bitPattern: u)), UInt16(expect))
        }
    }

    func testEveryISAMatchesReferenceBitForBit() {
        var rng = SplitMix64(seed: 11)
        for t in QuantTestData.allTypes {
            let bs = Int(lk_type_block_size(t))
            let counts = bs == 1 ? [1, 3, 7, 8, 15, 16, 17, 33, 100, 1031] : [1, 2, 3, 7, 33].map { $0 * bs }
            for n in counts {
                let x = QuantTestData.randomRow(t, n, &rng)
                let ref = QuantTestData.dequantRef(t, x, n)
                XCTAssertFalse(ref.contains { $0.isNaN }, "\(QuantTestData.name(t)) n=\(n): reference left gaps")
                for isa in QuantTestData.isas where lk_isa_supported(isa) != 0 {
                    var y = [Float](repeating: .nan, count: n)
                    x.withUnsafeBytes { lk_dequantize_row_isa(isa, t, &y, $0.baseAddress!, Int64(n)) }
                    XCTAssertEqual(y.map(\.bitPattern), ref.map(\.bitPattern), "\(QuantTestData.name(t)) isa \(isa.rawValue) n=\(n)")
                }
                var y = [Float](repeating: .nan, count: n)
                x.withUnsafeBytes { lk_dequantize_row(t, &y, $0.baseAddress!, Int64(n)) }
                XCTAssertEqual(y.map(\.bitPattern), ref.map(\.bitPattern))
            }
        }
    }

    /// The reference of the 32-element formats against the formulas of DESIGN.md, computed here.
    func testReferenceMatchesDocumentedFormulas() {
        var rng = SplitMix64(seed: 12)
        let nb = 9, n = nb * 32
        for t in [LK_Q8_0, LK_Q4_0, LK_Q4_1, LK_F16, LK_BF16] {
            let x = QuantTestData.randomRow(t, n, &rng), y = QuantTestData.dequantRef(t, x, n)
            var expect = [Float](repeating: 0, count: n)
            for b in 0..<nb {
                switch t {
                case LK_Q8_0:
                    let o = b * 34, d = QuantTestData.half(x, o)
                    for j in 0..<32 { expect[b * 32 + j] = d * Float(Int8(bitPattern: x[o + 2 + j])) }
                case LK_Q4_0:
                    let o = b * 18, d = QuantTestData.half(x, o)
                    for j in 0..<16 {
                        expect[b * 32 + j] = Float(Int(x[o + 2 + j] & 15) - 8) * d
                        expect[b * 32 + j + 16] = Float(Int(x[o + 2 + j] >> 4) - 8) * d
                    }
                case LK_Q4_1:
                    let o = b * 20, d = QuantTestData.half(x, o), m = QuantTestData.half(x, o + 2)
                    for j in 0..<16 {
                        expect[b * 32 + j] = Float(x[o + 4 + j] & 15) * d + m
                        expect[b * 32 + j + 16] = Float(x[o + 4 + j] >> 4) * d + m
                    }
                default:
                    for j in 0..<32 {
                        let i = b * 32 + j, bits = UInt16(x[2 * i]) | UInt16(x[2 * i + 1]) << 8
                        expect[i] = t == LK_F16 ? Float(Float16(bitPattern: bits)) : Float(bitPattern: UInt32(bits) << 16)
                    }
                }
            }
            XCTAssertEqual(y.map(\.bitPattern), expect.map(\.bitPattern), QuantTestData.name(t))
        }
    }

    /// Q4_K from blocks built here: 6-bit scales/mins packed as ggml documents, expected values from the formula.
    func testQ4KHandBuiltBlocks() {
        var rng = SplitMix64(seed: 13)
        for _ in 0..<20 {
            let sc = (0..<8).map { _ in UInt8(rng.next() % 64) }, mn = (0..<8).map { _ in UInt8(rng.next() % 64) }
            let dBits = QuantTestData.randomHalfBits(&rng), mBits = QuantTestData.randomHalfBits(&rng)
            let q = (0..<256).map { _ in UInt8(rng.next() % 16) } // q[e] for element e
            var block = QuantTestData.kHeader(dBits, mBits, sc, mn) + [UInt8](repeating: 0, count: 128)
            // Sub-block s = 2k (low nibbles) / 2k+1 (high nibbles) of qs[32k ..< 32k+32].
            for e in 0..<256 {
                let s = e / 32, k = s / 2, l = e % 32
                block[16 + 32 * k + l] |= s % 2 == 0 ? q[e] : q[e] << 4
            }
            let y = QuantTestData.dequantRef(LK_Q4_K, block, 256)
            let d = Float(Float16(bitPattern: dBits)), dmin = Float(Float16(bitPattern: mBits))
            for e in 0..<256 {
                let s = e / 32
                let expect = d * Float(sc[s]) * Float(q[e]) - dmin * Float(mn[s])
                XCTAssertEqual(y[e], expect, accuracy: 1e-6 * max(1, abs(expect)), "element \(e)")
            }
        }
    }

    /// Q6_K from blocks built here: 6-bit quants split into ql/qh as ggml documents, int8 scales per 16 elements.
    func testQ6KHandBuiltBlocks() {
        var rng = SplitMix64(seed: 14)
        for _ in 0..<20 {
            let q = (0..<256).map { _ in Int(rng.next() % 64) }
            let sc = (0..<16).map { _ in Int8(truncatingIfNeeded: rng.next()) }
            let dBits = QuantTestData.randomHalfBits(&rng)
            var block = [UInt8](repeating: 0, count: 210)
            // Element e = 128h + 32r + l (r in 0..<4, l in 0..<32): low 4 bits in ql[64h + l + 32*(r&1)]
            // (low nibble for r < 2, high nibble for r >= 2); high 2 bits in qh[32h + l] at bit 2r.
            for e in 0..<256 {
                let h = e / 128, r = (e % 128) / 32, l = e % 32
                let lo = UInt8(q[e] & 15), hi = UInt8(q[e] >> 4)
                block[64 * h + l + 32 * (r & 1)] |= r < 2 ? lo : lo << 4
                block[128 + 32 * h + l] |= hi << (2 * r)
            }
            for s in 0..<16 { block[192 + s] = UInt8(bitPattern: sc[s]) }
            block[208] = UInt8(dBits & 0xff); block[209] = UInt8(dBits >> 8)
            let y = QuantTestData.dequantRef(LK_Q6_K, block, 256)
            let d = Float(Float16(bitPattern: dBits))
            for e in 0..<256 {
                let expect = d * Float(sc[e / 16]) * Float(q[e] - 32)
                XCTAssertEqual(y[e], expect, accuracy: 1e-6 * max(1, abs(expect)), "element \(e)")
            }
        }
    }

    /// Q5_0 / Q5_1 from blocks built here: 5-bit quants split into nibbles and the u32 of 5th bits (bit j: element j).
    func testQ5HandBuiltBlocks() {
        var rng = SplitMix64(seed: 15)
        for t in [LK_Q5_0, LK_Q5_1] {
            let is1 = t == LK_Q5_1, bb = is1 ? 24 : 22, qo = is1 ? 4 : 2
            for _ in 0..<20 {
                let q = (0..<32).map { _ in UInt32(rng.next() % 32) }
                let dBits = QuantTestData.randomHalfBits(&rng), mBits = QuantTestData.randomHalfBits(&rng)
                var block = [UInt8](repeating: 0, count: bb)
                block[0] = UInt8(dBits & 0xff); block[1] = UInt8(dBits >> 8)
                if is1 { block[2] = UInt8(mBits & 0xff); block[3] = UInt8(mBits >> 8) }
                var qh: UInt32 = 0
                for j in 0..<32 { qh |= (q[j] >> 4) << j }
                for k in 0..<4 { block[qo + k] = UInt8((qh >> (8 * k)) & 0xff) }
                for j in 0..<16 { block[qo + 4 + j] = UInt8(q[j] & 15) | UInt8(q[j + 16] & 15) << 4 }
                let y = QuantTestData.dequantRef(t, block, 32)
                let d = Float(Float16(bitPattern: dBits)), m = Float(Float16(bitPattern: mBits))
                for j in 0..<32 {
                    let expect = is1 ? Float(q[j]) * d + m : Float(Int(q[j]) - 16) * d
                    XCTAssertEqual(y[j].bitPattern, expect.bitPattern, "\(QuantTestData.name(t)) element \(j)")
                }
            }
        }
    }

    /// Q5_K from blocks built here: Q4_K's scales, nibbles as Q4_K, 5th bit of element l of sub-block s at bit s of qh[l].
    func testQ5KHandBuiltBlocks() {
        var rng = SplitMix64(seed: 16)
        for _ in 0..<20 {
            let sc = (0..<8).map { _ in UInt8(rng.next() % 64) }, mn = (0..<8).map { _ in UInt8(rng.next() % 64) }
            let dBits = QuantTestData.randomHalfBits(&rng), mBits = QuantTestData.randomHalfBits(&rng)
            let q = (0..<256).map { _ in UInt8(rng.next() % 32) }
            var block = QuantTestData.kHeader(dBits, mBits, sc, mn) + [UInt8](repeating: 0, count: 160)
            for e in 0..<256 {
                let s = e / 32, k = s / 2, l = e % 32
                block[48 + 32 * k + l] |= s % 2 == 0 ? q[e] & 15 : (q[e] & 15) << 4
                block[16 + l] |= (q[e] >> 4) << s
            }
            let y = QuantTestData.dequantRef(LK_Q5_K, block, 256)
            let d = Float(Float16(bitPattern: dBits)), dmin = Float(Float16(bitPattern: mBits))
            for e in 0..<256 {
                let s = e / 32
                let expect = (d * Float(sc[s])) * Float(q[e]) - dmin * Float(mn[s])
                XCTAssertEqual(y[e].bitPattern, expect.bitPattern, "element \(e)")
            }
        }
    }
}
