/// Quant-aware LoRA (QA-LoRA's idea for GGUF blocks): A [r, in] is kept constant over each `groupSize`-wide group of
/// input columns — the quantization group of Q4_0/Q4_1/Q5_0/Q5_1/Q8_0 blocks and the sub-block of Q4_K/Q5_K — so A
/// acts on the input summed over each group, and ΔW = s·B·A is constant inside every block row. That constant merges
/// into the block's offset (`QuantOffsetMerge`) instead of being requantized away.
///
/// The factors stay in the ordinary expanded [r, in] layout (the forward and backward are plain LoRA's, a saved
/// adapter is an ordinary PEFT LoRA every loader reads). Constancy is kept by the optimizer step: A starts
/// group-constant and each group's gradient is replaced by its mean (the orthogonal projection onto group-constant
/// matrices), so AdamW — elementwise, with elementwise decay — gives every entry of a group the same moments and the
/// same update. This is Adam on the pooled A [r, in/groupSize] with gradient Σ_group ∂L/∂A scaled by 1/groupSize
/// (Adam is invariant to that scale up to eps).
public enum QuantAwareLoRA {
    /// Columns per group: the block of the 32-wide types and the sub-block of Q4_K/Q5_K.
    public static let groupSize = 32

    static func validate(targets: [LoRATarget], model: LlamaConfig) throws {
        for t in targets where t.shape(model).in % groupSize != 0 {
            throw LoRAConfigError.quantAwareColumns(target: t, in: t.shape(model).in, group: groupSize)
        }
    }

    /// Makes every A group-constant by giving each group its first column's value (used at initialization:
    /// the variance of x·Aᵀ is the same as plain LoRA's, since a group sum of G inputs has G times the variance).
    static func makeGroupConstant(_ values: inout [Float], slots: [LoRASlot], rank: Int) {
        let G = groupSize
        for s in slots {
            for i in 0..<rank {
                let row = s.aOffset + i * s.inFeatures
                for g in stride(from: 0, to: s.inFeatures, by: G) {
                    let v = values[row + g]
                    for j in 1..<G { values[row + g + j] = v }
                }
            }
        }
    }

    /// Replaces each group of A's gradient by the group's mean (B's gradient is untouched).
    static func projectGradients(_ grads: UnsafeMutablePointer<Float>, slots: [LoRASlot], rank: Int) {
        let G = groupSize
        for s in slots {
            for i in 0..<rank {
                let row = grads + s.aOffset + i * s.inFeatures
                for g in stride(from: 0, to: s.inFeatures, by: G) {
                    var sum: Float = 0
                    for j in 0..<G { sum += row[g + j] }
                    let mean = sum / Float(G)
                    for j in 0..<G { row[g + j] = mean }
                }
            }
        }
    }

    /// The largest |A[i, j] − A[i, first column of j's group]| over all slots: 0 for a quant-aware adapter
    /// (infinity when a slot's input is not whole groups).
    public static func maxGroupDeviation(_ p: LoRAParameters) -> Float {
        p.slots.map { deviation(p, slot: $0) }.max() ?? 0
    }

    /// Whether one slot's A is constant over every group (so its ΔW is constant inside every block row).
    static func isGroupConstant(_ p: LoRAParameters, slot s: LoRASlot) -> Bool { deviation(p, slot: s) == 0 }

    static func deviation(_ p: LoRAParameters, slot s: LoRASlot) -> Float {
        let G = groupSize
        guard s.inFeatures % G == 0 else { return .infinity }
        var worst: Float = 0
        for i in 0..<p.config.rank {
            let row = s.aOffset + i * s.inFeatures
            for g in stride(from: 0, to: s.inFeatures, by: G) {
                let v = p.values[row + g]
                for j in 1..<G { worst = max(worst, abs(p.values[row + g + j] - v)) }
            }
        }
        return worst
    }

    /// ΔW = s·B·A of one slot at group resolution: [out, in/groupSize], entry (o, g) the value every column of
    /// group g takes in row o (exact for a group-constant A).
    static func groupDelta(_ p: LoRAParameters, slot s: LoRASlot) -> [Float] {
        p.values.withUnsafeBufferPointer { groupDelta($0.baseAddress!, slot: s, rank: p.config.rank, scale: p.config.scale) }
    }

    /// s[rows, cols/groupSize]: the sum of each row of x [rows, cols] over each group of columns.
    static func groupSums(_ x: UnsafePointer<Float>, rows: Int, cols: Int, into s: UnsafeMutablePointer<Float>) {
        let G = groupSize, ng = cols / G
        for t in 0..<rows {
            let row = x + t * cols
            for j in 0..<ng {
                var a: Float = 0
                for c in 0..<G { a += row[j * G + c] }
                s[t * ng + j] = a
            }
        }
    }

    /// `groupDelta` of one slot of a flat factor vector (`LoRAParameters` layout) of the given rank and scale.
    static func groupDelta(_ values: UnsafePointer<Float>, slot s: LoRASlot, rank r: Int, scale: Float) -> [Float] {
        let G = groupSize, ng = s.inFeatures / G
        var pooled = [Float](repeating: 0, count: r * ng)
        for i in 0..<r { for g in 0..<ng { pooled[i * ng + g] = values[s.aOffset + i * s.inFeatures + g * G] } }
        var d = [Float](repeating: 0, count: s.outFeatures * ng)
        for o in 0..<s.outFeatures {
            for i in 0..<r {
                let b = scale * values[s.bOffset + o * r + i]
                if b == 0 { continue }
                for g in 0..<ng { d[o * ng + g] += b * pooled[i * ng + g] }
            }
        }
        return d
    }
}
