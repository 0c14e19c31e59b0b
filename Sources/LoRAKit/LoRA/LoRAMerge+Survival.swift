import Foundation

/// How much of an adapter's change a merged GGUF keeps, and the `auto` merge type built on it.
///
/// Survival of one matrix: ⟨Wstored − W0, ΔW⟩ / ‖ΔW‖²_F, with W0 the base matrix as stored (dequantized), ΔW = s·B·A
/// and Wstored the merged matrix as written (dequantized): the part of the change, along the change, that the stored
/// file still applies. 1 = all of it; 0 = requantization rounded it away. Overall: Σ⟨…⟩ / Σ‖ΔW‖² over the matrices
/// (each matrix weighted by ‖ΔW‖²).
extension LoRAMerge {
    /// `auto` keeps the base's block type for a matrix whose survival is at least this.
    public static let autoKeepSurvival = 0.9
    /// Below this overall survival most of the adapter is lost (the merge warns).
    public static let mostLostSurvival = 0.5

    /// Overall survival of a merge's reports (nil when none was measured or the adapter changed nothing).
    public static func overallSurvival(_ reports: [MergedMatrixReport]) -> Double? {
        var num = 0.0, den = 0.0
        for r in reports {
            guard let s = r.survived, let n = r.deltaNorm else { continue }
            num += s * n * n
            den += n * n
        }
        return den > 0 ? num / den : nil
    }

    /// Stores one merged matrix as `type`: through the blocks' offsets when the slot's A is group-constant (a
    /// quant-aware adapter) and `type` is the base's offset type (`QuantOffsetMerge.offsetType`), else by
    /// requantizing W0 + ΔW. Returns the stored matrix and its report.
    static func mergeMatrix(base W0: QuantizedMatrix, adapter: LoRAParameters, slot s: LoRASlot, type t: GGMLType,
                            name: String, pool: ThreadPool) throws -> (QuantizedMatrix, MergedMatrixReport) {
        let (w, base, relDelta) = try mergedWithBase(base: W0, adapter: adapter, slot: s, pool: pool)
        let q: QuantizedMatrix
        var offsets = false
        if QuantOffsetMerge.canMerge(from: W0.type, to: t), QuantAwareLoRA.isGroupConstant(adapter, slot: s),
           let m = QuantOffsetMerge.merge(W0, delta: QuantAwareLoRA.groupDelta(adapter, slot: s), as: t) {
            q = m
            offsets = true
        } else {
            q = try QuantizedMatrix.quantize(w, rows: W0.rows, cols: W0.cols, as: t)
        }
        let back = t == .f32 ? w : q.dequantized()
        var errSq = 0.0, wSq = 0.0, dot = 0.0, dSq = 0.0
        for i in w.indices {
            let d = Double(w[i]) - Double(base[i]), e = Double(back[i]) - Double(w[i])
            errSq += e * e
            wSq += Double(w[i]) * Double(w[i])
            dot += (Double(back[i]) - Double(base[i])) * d
            dSq += d * d
        }
        let report = MergedMatrixReport(name: name, type: t.description, relativeError: (errSq / max(wSq, 1e-300)).squareRoot(),
                                        relativeDelta: relDelta, survived: dSq > 0 ? dot / dSq : 1,
                                        deltaError: dSq > 0 ? (errSq / dSq).squareRoot() : 0, deltaNorm: dSq.squareRoot(),
                                        offsets: offsets)
        return (q, report)
    }

    /// The type `MergeType.auto` stores a matrix in: the base's own type (its offset type for a quant-aware adapter on
    /// Q4_0/Q5_0) when at least `autoKeepSurvival` of the change survives it or the base is F32/F16/BF16/Q8_0; else,
    /// for a quant-aware adapter on Q4_K/Q5_K, Q4_1/Q5_1 (the exact transcode, `QuantOffsetMerge`); else Q8_0.
    /// Measuring costs one extra merge of the matrix.
    static func autoType(base W0: QuantizedMatrix, adapter: LoRAParameters, slot s: LoRASlot, pool: ThreadPool) throws -> GGMLType {
        if [.f32, .f16, .bf16, .q8_0].contains(W0.type) { return W0.type }
        var keep = W0.type.storable(cols: W0.cols)
        let quantAware = QuantAwareLoRA.isGroupConstant(adapter, slot: s)
        if quantAware, let o = QuantOffsetMerge.offsetType(for: W0.type) { keep = o }
        let (_, r) = try mergeMatrix(base: W0, adapter: adapter, slot: s, type: keep, name: "", pool: pool)
        if (r.survived ?? 1) >= autoKeepSurvival { return keep }
        if quantAware, W0.type == .q4_K || W0.type == .q5_K { return W0.type == .q4_K ? .q4_1 : .q5_1 }
        return .q8_0
    }
}
