/// Conversions between fp32 and the 16-bit float formats stored in model files
/// (IEEE half and bfloat16), done on bit patterns so they work on every platform.
public enum FloatConversion {
    /// IEEE half bits → Float (exact).
    @inline(__always)
    public static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1f)
        let man = UInt32(h & 0x3ff)
        if exp == 0 {
            // zero or subnormal: man * 2^-24
            let v = Float(man) * Float(bitPattern: 0x3380_0000)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7f80_0000 | (man << 13)) }
        return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (man << 13))
    }

    /// Float → IEEE half bits, rounding to nearest even (overflow gives ±inf, NaN stays NaN).
    public static func floatToHalf(_ f: Float) -> UInt16 {
        let b = f.bitPattern
        let sign = UInt16((b >> 16) & 0x8000)
        let exp = Int((b >> 23) & 0xff)
        let man = b & 0x7f_ffff
        if exp == 255 { return sign | 0x7c00 | (man != 0 ? 0x200 : 0) }
        let e = exp - 127 + 15
        if e >= 31 { return sign | 0x7c00 }
        if e <= 0 {
            // subnormal half (or zero): value = m * 2^-24
            if e < -10 { return sign }
            let m = man | 0x80_0000
            let shift = UInt32(14 - e)
            var r = m >> shift
            let rem = m & ((1 << shift) - 1), half = UInt32(1) << (shift - 1)
            if rem > half || (rem == half && (r & 1) == 1) { r += 1 }
            return sign | UInt16(r)
        }
        var r = UInt32(e) << 10 | (man >> 13)
        let rem = man & 0x1fff
        if rem > 0x1000 || (rem == 0x1000 && (r & 1) == 1) { r += 1 }   // may carry into the exponent: correct
        return sign | UInt16(r)
    }

    /// bfloat16 bits → Float (exact).
    @inline(__always)
    public static func bf16ToFloat(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    /// Float → bfloat16 bits, rounding to nearest even (NaN stays NaN).
    public static func floatToBF16(_ f: Float) -> UInt16 {
        let b = f.bitPattern
        if f.isNaN { return UInt16(b >> 16) | 0x40 }
        let r = b &+ 0x7fff &+ ((b >> 16) & 1)
        return UInt16(r >> 16)
    }

    /// Copies `count` values of an F32/F16/BF16 tensor to floats; nil for other types.
    static func toFloats(_ bytes: TensorBytes, type: GGMLType, count: Int) -> [Float]? {
        let size: Int
        switch type {
        case .f32: size = 4
        case .f16, .bf16: size = 2
        default: return nil
        }
        guard count >= 0, count * size <= bytes.count else { return nil }
        return bytes.withUnsafeBytes { raw -> [Float] in
            guard let p = raw.baseAddress else { return [] }
            return [Float](unsafeUninitializedCapacity: count) { buf, n in
                for i in 0 ..< count {
                    switch type {
                    case .f32: buf[i] = Float(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    case .f16: buf[i] = halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    default: buf[i] = bf16ToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                    }
                }
                n = count
            }
        }
    }
}
