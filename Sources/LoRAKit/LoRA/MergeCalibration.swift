import CKernels
import Foundation

/// How each adapted matrix's input is used, measured on calibration text under the adapted model: per matrix the
/// second moments H = E[s sᵀ] of its input's group sums s_g = Σ_{i∈g} x_i (groups of `QuantAwareLoRA.groupSize`
/// columns). The in-place Q4_K/Q5_K merge of a quant-aware adapter weights its offset errors by H
/// (`QuantOffsetMerge.merge(groupMoments:)`): eᵀHe is the expected squared output error of a row.
public struct MergeCalibration: Sendable {
    /// H per adapted matrix, keyed by GGUF tensor name ("blk.3.ffn_down.weight"), [G, G] row-major, G = in / 32.
    public var moments: [String: [Double]]
    /// Tokens the moments average over.
    public var tokens: Int
    /// Sequences run.
    public var sequences: Int

    public init(moments: [String: [Double]], tokens: Int, sequences: Int) {
        self.moments = moments; self.tokens = tokens; self.sequences = sequences
    }

    /// Default number of calibration sequences.
    public static let defaultSequences = 64

    /// Tokens per calibration sequence at most (longer examples are cut).
    public static let maxSequenceLength = 512

    /// `measure` on the training split of `dataPath` (a JSONL file, or a folder whose train file is used — never its
    /// validation split), read in any format `train` accepts and tokenized as training does.
    public static func measure(model: ModelWeights, adapter: LoRAParameters, dataPath: String, tokenizer: Tokenizer,
                               maxSequences: Int = defaultSequences, pool: ThreadPool,
                               progress: ((Int, Int) -> Void)? = nil) throws -> MergeCalibration {
        let files = try DatasetFiles(path: dataPath)
        let ctx = model.config.contextLength > 0 ? min(maxSequenceLength, model.config.contextLength) : maxSequenceLength
        let data = try TokenizedDataset(path: files.train, tokenizer: tokenizer, options: DatasetOptions(contextLength: ctx - 1))
        return try measure(model: model, adapter: adapter, sequences: data.examples.map(\.tokens), source: files.train,
                           maxSequences: maxSequences, pool: pool, progress: progress)
    }

    /// Runs `adapter` over `model` on up to `maxSequences` of `sequences` (token ids, one sequence each; `source` names
    /// them in errors) — the inference graph's forward (no dropout), each layer's projection inputs read right after
    /// the layer runs — and averages the group-sum moments of each quant-aware slot's input. `progress(done, total)` after each sequence.
    public static func measure(model: ModelWeights, adapter: LoRAParameters, sequences: [[Int32]], source: String,
                               maxSequences: Int = defaultSequences, pool: ThreadPool,
                               progress: ((Int, Int) -> Void)? = nil) throws -> MergeCalibration {
        let slots = adapter.slots.filter { QuantAwareLoRA.isGroupConstant(adapter, slot: $0) }
        guard !slots.isEmpty else { throw MergeError.calibrationNeedsQuantAware }
        guard !adapter.config.quantGrid else { throw MergeError.calibrationWithQuantGrid }
        guard maxSequences >= 1 else { throw MergeError.calibrationSequences(maxSequences) }
        let examples = sequences.prefix(maxSequences).filter { !$0.isEmpty }
        guard !examples.isEmpty else { throw MergeError.emptyCalibration(path: source) }
        let S = examples.map(\.count).max()!
        if model.config.contextLength > 0 && S > model.config.contextLength {
            throw EvalError.contextTooLarge(S, max: model.config.contextLength)
        }
        try LoRAMerge.check(adapter, model: model.config)
        // The inference graph: one set of layer activations, read right after each layer runs.
        let graph = LlamaGraph(weights: model, lora: adapter, batch: 1, sequence: S, training: false, checkpointing: false, pool: pool)
        let G = QuantAwareLoRA.groupSize
        var sums = slots.map { [Double](repeating: 0, count: ($0.inFeatures / G) * ($0.inFeatures / G)) }
        var tokens = 0
        for (n, ex) in examples.enumerated() {
            let T = ex.count
            graph.setBatch(tokens: ex + [Int32](repeating: 0, count: S - T), targets: [Int32](repeating: -1, count: S))
            graph.forwardHidden { l in                                // causal: the padding after T changes no row before it
                for (i, s) in slots.enumerated() where s.layer == l {
                    addMoments(&sums[i], graph.activations(l).input(of: s.target), rows: T, cols: s.inFeatures, pool: pool)
                }
            }
            tokens += T
            progress?(n + 1, examples.count)
        }
        var moments: [String: [Double]] = [:]
        for (i, s) in slots.enumerated() {
            moments["blk.\(s.layer).\(s.target.ggufName).weight"] = sums[i].map { $0 / Double(tokens) }
        }
        return MergeCalibration(moments: moments, tokens: tokens, sequences: examples.count)
    }

    /// h += Sᵀ·S for the group sums S [rows, cols/G] of the rows of x [rows, cols] (one fp32 product, fp64 sum).
    static func addMoments(_ h: inout [Double], _ x: UnsafeMutablePointer<Float>, rows T: Int, cols C: Int, pool: ThreadPool) {
        let ng = C / QuantAwareLoRA.groupSize
        var g = [Float](repeating: 0, count: T * ng)
        g.withUnsafeMutableBufferPointer { QuantAwareLoRA.groupSums(x, rows: T, cols: C, into: $0.baseAddress!) }
        var p = [Float](repeating: 0, count: ng * ng)
        g.withUnsafeBufferPointer { sp in
            p.withUnsafeMutableBufferPointer { pp in
                lk_sgemm(pool.raw, 1, 0, Int64(ng), Int64(ng), Int64(T), 1, sp.baseAddress!, Int64(ng),
                         sp.baseAddress!, Int64(ng), 0, pp.baseAddress!, Int64(ng))
            }
        }
        for i in 0..<(ng * ng) { h[i] += Double(p[i]) }
    }
}

extension LayerBuffers where F == FloatBuffer {
    /// The input rows [T, in] of one projection in this layer's forward.
    func input(of target: LoRATarget) -> UnsafeMutablePointer<Float> {
        switch target {
        case .q_proj, .k_proj, .v_proj: return xn1.ptr
        case .o_proj: return att.ptr
        case .gate_proj, .up_proj: return xn2.ptr
        case .down_proj: return h.ptr
        }
    }
}
