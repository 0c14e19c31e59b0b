/// SplitMix64: a small, fast, platform-independent seeded generator. Used for LoRA init,
/// dropout masks and data shuffling, so a seed means the same thing everywhere.
public struct SplitMix64: RandomNumberGenerator, Codable, Sendable, Equatable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 output function.
    @inline(__always) public static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// n values uniform in [-1, 1): element i is mix(seed + (i+1)·golden), top 24 bits
    /// (the same sequence as `scripts/fixtures/lk_init.py`'s `uniform`).
    public static func uniformSymmetric(seed: UInt64, count n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: n)
        var s = seed
        for i in 0..<n {
            s &+= 0x9E37_79B9_7F4A_7C15
            let u = Double(mix(s) >> 40) / Double(1 << 24)
            out[i] = Float(u * 2 - 1)
        }
        return out
    }
}
