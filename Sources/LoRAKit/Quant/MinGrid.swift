/// The 6-bit min grid of Q4_K/Q5_K (x = d·sc_j·q − dmin·m_j, m_j ∈ 0…63 per 32-wide sub-block, one fp16 dmin per
/// 256): the changes an in-place merge can write while keeping d, every scale, every code and dmin. A change c_j of
/// sub-block j's values becomes m'_j = clamp(round(m_j − c_j/dmin), 0, 63), which adds ĉ_j = dmin·(m_j − m'_j).
///
/// One definition for both sides: grid-exact quant-aware training (`QuantGridLoRA`) rounds its change with
/// `roundedMin` and `change` every step, and the merge of such an adapter (`QuantOffsetMerge.merge(onGrid:)`) writes
/// the same m'_j, so the merged file is the trained model. ĉ is exact in fp32 (an fp16 dmin times an integer
/// −63…63 needs 17 significant bits), and a change already on the grid rounds to itself.
enum MinGrid {
    /// The new 6-bit min of a sub-block whose values change by `change` (m unchanged when dmin is 0).
    @inline(__always)
    static func roundedMin(_ m: UInt8, change: Float, dmin: Float) -> UInt8 {
        guard dmin != 0, change.isFinite else { return m }
        return UInt8(min(63, max(0, (Float(m) - change / dmin).rounded())))
    }

    /// The change of the sub-block's values when its min goes from m to `rounded`: dmin·(m − m').
    @inline(__always)
    static func change(_ m: UInt8, _ rounded: UInt8, dmin: Float) -> Float { dmin * Float(Int(m) - Int(rounded)) }

    /// The fp16 dmin of each super-block and the 6-bit min of each sub-block of one Q4_K/Q5_K row.
    static func rowMins(_ row: UnsafeRawPointer, blockBytes: Int, groups: Int) -> (dmin: [Float], mins: [UInt8]) {
        var dmin = [Float](repeating: 0, count: groups / 8), mins = [UInt8](repeating: 0, count: groups)
        for b in 0..<(groups / 8) {
            let block = UnsafeMutableRawPointer(mutating: row + b * blockBytes)
            dmin[b] = QuantOffsetMerge.half(block + 2)
            for j in 0..<8 { mins[8 * b + j] = QuantOffsetMerge.scaleMin(j, block + 4).1 }
        }
        return (dmin, mins)
    }

    /// Writes `delta` (one change per sub-block of the row) into one Q4_K/Q5_K row in place as the rounded mins;
    /// d, dmin, the scales and the codes are kept.
    static func applyRow(_ row: UnsafeMutableRawPointer, blockBytes: Int, delta: [Float]) {
        for b in 0..<(delta.count / 8) {
            let block = row + b * blockBytes, q = block + 4
            let dmin = QuantOffsetMerge.half(block + 2)
            var sc = [UInt8](repeating: 0, count: 8), m = [UInt8](repeating: 0, count: 8)
            for j in 0..<8 { (sc[j], m[j]) = QuantOffsetMerge.scaleMin(j, q) }
            for j in 0..<8 { m[j] = roundedMin(m[j], change: delta[8 * b + j], dmin: dmin) }
            QuantOffsetMerge.packScales(sc, m, q)
        }
    }
}
