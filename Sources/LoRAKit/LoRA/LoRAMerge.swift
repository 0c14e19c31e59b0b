import CKernels
import Foundation

/// How a merged matrix is stored.
public enum MergeType: Sendable, Equatable, CustomStringConvertible {
    /// The base matrix's own block type (K-quants and Q5 blocks included).
    case same
    /// Chosen per matrix from how much of the adapter's change survives (`LoRAMerge.autoType`).
    case auto
    /// A type the user picks: any GGMLType (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K).
    case type(GGMLType)

    /// Parses "same" or a type name ("f32", "q8_0", "q4_k", …; case-insensitive).
    public init(name: String) throws {
        if name.lowercased() == "same" { self = .same; return }
        if name.lowercased() == "auto" { self = .auto; return }
        guard let t = GGMLType(name: name) else { throw MergeError.invalidType(name) }
        self = .type(t)
    }

    /// The type a merged matrix of `cols` columns gets when the base stores it as `base` (a K-quant asked for
    /// rows that are not multiples of 256 falls back as llama-quantize does, `GGMLType.storable(cols:)`).
    public func resolve(base: GGMLType, cols: Int? = nil) -> GGMLType {
        let t: GGMLType
        switch self {
        case .type(let picked): t = picked
        case .same, .auto: t = base   // auto's choice is the merge's (`LoRAMerge.autoType`); this is its starting point
        }
        return cols.map { t.storable(cols: $0) } ?? t
    }

    public var description: String {
        switch self {
        case .same: return "same"
        case .auto: return "auto"
        case .type(let t): return t.description.lowercased()
        }
    }
}

/// Output layout of a merge.
public enum MergeFormat: String, Sendable, Codable, CaseIterable {
    /// One GGUF file llama.cpp runs (metadata and untouched tensors copied as they are).
    case gguf
    /// A Hugging Face folder (config.json, model.safetensors, tokenizer files) transformers loads.
    case hf
}

/// Errors of a merge request.
public enum MergeError: Error, CustomStringConvertible, Equatable {
    case invalidType(String)
    case typeNotForHF(GGMLType)
    case needsGGUFBase(path: String)
    case adapterMismatch(message: String)
    case missingTensor(path: String, name: String)
    case calibrationNeedsQuantAware
    case calibrationWithQuantGrid
    case emptyCalibration(path: String)
    case calibrationSequences(Int)

    public var description: String {
        switch self {
        case .invalidType(let s):
            return "unknown merge type '\(s)' (use auto, same, \(GGMLType.allCases.map { $0.description.lowercased() }.joined(separator: ", ")))"
        case .typeNotForHF(let t): return "a Hugging Face folder stores F32, F16 or BF16 weights, not \(t)"
        case .needsGGUFBase(let p): return "merging to GGUF needs a GGUF base model (\(p) is not one)"
        case .adapterMismatch(let m): return "the adapter does not fit the model: \(m)"
        case .missingTensor(let p, let n): return "\(p): tensor '\(n)' not found"
        case .calibrationNeedsQuantAware:
            return "calibration data only serves a quant-aware adapter (A constant over each 32-column group); this adapter is not one"
        case .calibrationWithQuantGrid:
            return "calibration data weights the refit of the Q4_K/Q5_K mins; this adapter was trained on their grid (quantGrid) and is written exactly without a refit"
        case .emptyCalibration(let p): return "the calibration data \(p) has no example to run"
        case .calibrationSequences(let n): return "the number of calibration sequences must be at least 1 (got \(n))"
        }
    }
}

/// What the merge did to one matrix.
public struct MergedMatrixReport: Sendable, Codable, Equatable {
    /// Name in the output file (GGUF or HF name).
    public var name: String
    public var type: String
    /// ‖stored − (W0 + s·B·A)‖_F / ‖W0 + s·B·A‖_F: the error of writing the exact merged matrix in `type`.
    public var relativeError: Double
    /// ‖s·B·A‖_F / ‖W0‖_F: how much the adapter changed the matrix.
    public var relativeDelta: Double
    /// Survival of the adapter's change: ⟨Wstored − W0, ΔW⟩ / ‖ΔW‖² (W0 the base as stored, dequantized; ΔW = s·B·A):
    /// 1 when the stored matrix moved from W0 by exactly ΔW, 0 when requantization rounded the change away.
    /// nil where not measured (HF output).
    public var survived: Double? = nil
    /// ‖Wstored − (W0 + ΔW)‖ / ‖ΔW‖: the storage error relative to the change (nil where not measured).
    public var deltaError: Double? = nil
    /// ‖ΔW‖_F (the weight of this matrix in the overall survival).
    public var deltaNorm: Double? = nil
    /// True when the change was written into the blocks' offsets (`QuantOffsetMerge`) instead of requantized.
    public var offsets: Bool = false
}

/// Folding LoRA adapters into the base weights: W = W0 + scale·B·A per targeted matrix, one matrix
/// at a time (dequantize, add, requantize), streamed to disk.
public enum LoRAMerge {
    /// W0 + scale·B·A in fp32, [rows, cols] row-major, rows in GGUF order (q/k permuted), with ‖ΔW‖/‖W0‖.
    static func merged(base W0: QuantizedMatrix, adapter: LoRAParameters, slot s: LoRASlot, pool: ThreadPool) throws -> (w: [Float], relDelta: Double) {
        let m = try mergedWithBase(base: W0, adapter: adapter, slot: s, pool: pool)
        return (m.w, m.relDelta)
    }

    /// `merged`, also returning W0 dequantized.
    static func mergedWithBase(base W0: QuantizedMatrix, adapter: LoRAParameters, slot s: LoRASlot,
                               pool: ThreadPool) throws -> (w: [Float], base: [Float], relDelta: Double) {
        guard W0.rows == s.outFeatures, W0.cols == s.inFeatures else {
            throw MergeError.adapterMismatch(message: "layer \(s.layer) \(s.target.rawValue): adapter [\(s.outFeatures), \(s.inFeatures)], model [\(W0.rows), \(W0.cols)]")
        }
        var w = W0.dequantized()
        let base = w
        let r = Int64(adapter.config.rank), out = Int64(s.outFeatures), inF = Int64(s.inFeatures)
        adapter.values.withUnsafeBufferPointer { v in
            w.withUnsafeMutableBufferPointer { wp in
                // W[out, in] += scale · B[out, r] · A[r, in]
                lk_sgemm(pool.raw, 0, 0, out, inF, r, adapter.config.scale, v.baseAddress! + s.bOffset, r,
                         v.baseAddress! + s.aOffset, inF, 1, wp.baseAddress!, inF)
            }
        }
        if let mo = s.magnitudeOffset { doraRescale(&w, m: adapter.values[mo ..< mo + s.outFeatures], cols: s.inFeatures) }
        var dn = 0.0, bn = 0.0
        for i in w.indices {
            let d = Double(w[i]) - Double(base[i])
            dn += d * d
            bn += Double(base[i]) * Double(base[i])
        }
        return (w, base, (dn / max(bn, 1e-300)).squareRoot())
    }

    /// DoRA: W ← (m/‖W row‖) ⊙ W per row, W = W0 + s·B·A (PEFT's merge: the norm of the unmerged sum).
    static func doraRescale(_ w: inout [Float], m: ArraySlice<Float>, cols: Int) {
        w.withUnsafeMutableBufferPointer { wp in
            for (j, mj) in m.enumerated() {
                let row = wp.baseAddress! + j * cols
                let g = Float(Double(mj) / lk_sum_squares(row, Int64(cols)).squareRoot())
                for i in 0..<cols { row[i] *= g }
            }
        }
    }

    /// Quantizes the merged matrix; returns the stored matrix and its relative Frobenius error.
    static func store(_ w: [Float], rows: Int, cols: Int, as type: GGMLType) throws -> (QuantizedMatrix, Double) {
        let q = try QuantizedMatrix.quantize(w, rows: rows, cols: cols, as: type)
        if type == .f32 { return (q, 0) }
        let back = q.dequantized()
        var num = 0.0, den = 0.0
        for i in w.indices {
            let d = Double(back[i]) - Double(w[i])
            num += d * d
            den += Double(w[i]) * Double(w[i])
        }
        return (q, (num / max(den, 1e-300)).squareRoot())
    }

    /// Checks the adapter's layout against the model.
    static func check(_ adapter: LoRAParameters, model: LlamaConfig) throws {
        for s in adapter.slots {
            let (o, i) = s.target.shape(model)
            guard s.layer < model.blockCount, s.outFeatures == o, s.inFeatures == i else {
                throw MergeError.adapterMismatch(message: "layer \(s.layer) \(s.target.rawValue) is [\(s.outFeatures), \(s.inFeatures)], the model's is [\(o), \(i)]")
            }
        }
    }
}

/// Collects per-matrix reports from the writers' closures.
final class MergeReportBox: @unchecked Sendable {
    var reports: [MergedMatrixReport] = []
    var onMatrix: ((MergedMatrixReport) -> Void)?
    func add(_ r: MergedMatrixReport) { reports.append(r); onMatrix?(r) }
}
