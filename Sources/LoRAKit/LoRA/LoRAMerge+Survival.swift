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
    /// requantizing W0 + ΔW. `groupMoments`: see `QuantOffsetMerge.merge`. Returns the stored matrix and its report.
    static func mergeMatrix(base W0: QuantizedMatrix, adapter: LoRAParameters, slot s: LoRASlot, type t: GGMLType,
                            name: String, groupMoments: [Double]? = nil, pool: ThreadPool) throws -> (QuantizedMatrix, MergedMatrixReport) {
        let (w, base, relDelta) = try mergedWithBase(base: W0, adapter: adapter, slot: s, pool: pool)
        let q: QuantizedMatrix
        var offsets = false
        if QuantOffsetMerge.canMerge(from: W0.type, to: t), QuantAwareLoRA.isGroupConstant(adapter, slot: s),
           let m = QuantOffsetMerge.merge(W0, delta: QuantAwareLoRA.groupDelta(adapter, slot: s), as: t, groupMoments: groupMoments,
                                         onGrid: adapter.config.quantGrid) {
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

    /// The type `MergeType.auto` stores a matrix in. F32/F16/BF16/Q8_0 bases keep their type. A quant-aware adapter
    /// goes into the offsets: Q4_0/Q4_1 → Q4_1, Q5_0/Q5_1 → Q5_1, and Q4_K/Q5_K → Q4_1/Q5_1 (the exact transcode: the
    /// in-place refit of the 6-bit mins loses part of the change and adds a per-sub-block offset error, measured
    /// +2.6% perplexity against unmerged, +1.6% with calibration). Otherwise the base's own type when at least `autoKeepSurvival` of the
    /// change survives requantizing to it (one extra merge of the matrix to measure), else Q8_0.
    static func autoType(base W0: QuantizedMatrix, adapter: LoRAParameters, slot s: LoRASlot, pool: ThreadPool) throws -> GGMLType {
        if [.f32, .f16, .bf16, .q8_0].contains(W0.type) { return W0.type }
        if QuantAwareLoRA.isGroupConstant(adapter, slot: s), let o = QuantOffsetMerge.offsetType(for: W0.type) {
            if adapter.config.quantGrid { return o }   // trained on the Q4_K/Q5_K min grid: exact in place
            switch o {
            case .q4_K: return .q4_1
            case .q5_K: return .q5_1
            default: return o
            }
        }
        let keep = W0.type.storable(cols: W0.cols)
        let (_, r) = try mergeMatrix(base: W0, adapter: adapter, slot: s, type: keep, name: "", pool: pool)
        return (r.survived ?? 1) >= autoKeepSurvival ? keep : .q8_0
    }
}
