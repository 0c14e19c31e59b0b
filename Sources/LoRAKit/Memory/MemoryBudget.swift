import Foundation

/// One line of a memory budget: what holds the bytes, how many, and when.
public struct MemoryTerm: Codable, Sendable, Equatable {
    /// Where a term belongs in the report.
    public enum Section: String, Codable, Sendable, CaseIterable {
        case model, adapter, activations, scratch, runtime
    }

    /// When the bytes are held. `steady` terms are held together through training; `save` terms add to
    /// them while the adapter is written, `checkpoint` terms while a training checkpoint is written; `load` terms (files mapped while the weights are converted)
    /// add to the model and runtime terms only, before any training buffer exists.
    public enum Phase: String, Codable, Sendable { case steady, load, save, checkpoint }

    /// Stable identifier (`lora.adamw`, `act.kept`, …) for scripts.
    public var key: String
    public var label: String
    /// Shapes or the formula, for the reader.
    public var detail: String
    public var bytes: Int
    public var section: Section
    public var phase: Phase

    public init(key: String, label: String, detail: String, bytes: Int, section: Section, phase: Phase = .steady) {
        self.key = key
        self.label = label
        self.detail = detail
        self.bytes = bytes
        self.section = section
        self.phase = phase
    }
}

/// Memory a full fine-tuning of the same model with Adam would need for the same batch.
public struct FullFineTuneEstimate: Codable, Sendable, Equatable {
    public var parameters: Int
    /// fp32 weights + grads + Adam m + v: 16 bytes per parameter.
    public var fp32StateBytes: Int
    /// Mixed precision: bf16 weights and grads + fp32 master copy, m, v: also 16 bytes per parameter.
    public var mixedStateBytes: Int
    /// Activations kept for backward with the same checkpointing, fp32, plus the full [T, V] logits and their gradient.
    public var activationBytes: Int
    public var fp32TotalBytes: Int { fp32StateBytes + activationBytes }
    /// Activations in bf16.
    public var mixedTotalBytes: Int { mixedStateBytes + activationBytes / 2 }
}

/// The memory a LoRA training run will hold, term by term, derived from the sizes the code allocates
/// (`LlamaGraph.plan`, AdamW's m and v, the loader's weight storage) plus measured runtime costs.
/// Build it with `MemoryBudget.estimate(model:config:threads:dataBytes:numa:)` before loading anything.
public struct MemoryBudget: Codable, Sendable, Equatable {
    /// The run settings the budget was computed for.
    public struct Run: Codable, Sendable, Equatable {
        public var batchSize: Int
        public var sequenceLength: Int
        public var rank: Int
        public var targets: [String]
        public var checkpointing: Bool
        public var threads: Int
        public var dropout: Float
    }

    /// Bytes placed on one NUMA node.
    public struct NodeBytes: Codable, Sendable, Equatable {
        public var node: Int
        public var weightBytes: Int
        public var otherBytes: Int
        public var total: Int { weightBytes + otherBytes }
    }

    public var model: String
    public var quantization: String
    public var run: Run
    public var trainableParameters: Int
    /// Base model parameters as PEFT counts them (tied embeddings once).
    public var baseParameters: Int
    public var terms: [MemoryTerm]
    public var fullFineTune: FullFineTuneEstimate
    /// Per-node totals when a NUMA plan spreads the weights over several nodes.
    public var perNode: [NodeBytes]?

    /// The largest addition to the steady bytes during training (adapter save or checkpoint write).
    public var transientBytes: Int {
        let save = terms.filter { $0.phase == .save }.reduce(0) { $0 + $1.bytes }
        let ckpt = terms.filter { $0.phase == .checkpoint }.reduce(0) { $0 + $1.bytes }
        return max(save, ckpt)
    }

    /// Bytes held through the whole run.
    public var steadyBytes: Int { terms.filter { $0.phase == .steady }.reduce(0) { $0 + $1.bytes } }
    /// Predicted peak resident memory: the larger of training (steady bytes plus the adapter being saved)
    /// and loading (model and runtime terms plus the files mapped while converting; no training buffer
    /// exists yet).
    public var peakBytes: Int {
        let load = terms.filter { $0.phase == .load }.reduce(0) { $0 + $1.bytes }
        let loading = load == 0 ? 0 : bytes(in: .model) + bytes(in: .runtime) + load
        return max(steadyBytes + transientBytes, loading)
    }
    /// How many times more memory full fine-tuning with Adam (fp32) would take.
    public var fullFineTuneRatio: Double { Double(fullFineTune.fp32TotalBytes) / Double(max(peakBytes, 1)) }

    /// Sum of the steady terms of one section.
    public func bytes(in section: MemoryTerm.Section) -> Int {
        terms.filter { $0.section == section && $0.phase == .steady }.reduce(0) { $0 + $1.bytes }
    }

    /// Trainable LoRA parameters, exact for grouped-query attention (k/v projections are kvDim wide):
    /// Σ over layers and targets of rank · (in + out).
    public static func trainableCount(lora: LoRAConfig, model c: LlamaConfig) -> Int {
        c.blockCount * lora.targets.reduce(0) { s, t in
            let sh = t.shape(c)
            return s + lora.rank * (sh.in + sh.out) + (lora.useDoRA ? sh.out : 0)   // + DoRA's magnitudes
        }
    }
}

extension MemoryBudget {
    /// Measured runtime costs (scripts/measure-memory.sh; the README's calibration table). Measured on
    /// Linux x86-64 with the release build: VmHWM differences between runs that change one thing.
    public enum Calibration {
        /// Swift runtime, Foundation, libc, OpenBLAS and the CLI before any model: VmHWM of `lorakit --version`
        /// (22.0 MB).
        public static let runtimeBytes = 22_000_000
        /// Each pool thread (stack pages, malloc arena, OpenBLAS's per-thread GEMM buffer as touched):
        /// 1, 2 and 4 threads on the same run differ by 1.6 MB per thread.
        public static let perThreadBytes = 1_600_000
        /// Tokenizer plus the GGUF metadata parsed into Swift values (token strings, scores, merges; parsed
        /// again by the tokenizer loader), per vocabulary entry: the residual of SmolLM2 runs (49,152 tokens:
        /// 18.9 MB) once the runtime, threads and data are taken out.
        public static let tokenizerBytesPerToken = 385
        /// Parsed and tokenized dataset, per byte of JSONL: 20 copies of the example data (1.1 MB) cost
        /// 2.4 MB more than one.
        public static let dataBytesPerFileByte = 3
        /// Allocator slack growing with the run (fragmentation, page rounding): 0.25% of the steady bytes,
        /// the slope of the residual over runs from 0.3 to 4.6 GB.
        public static let heapSlack = 0.0025
    }

    /// The budget of training `config` on `model` with `threads` pool threads (default: the config's,
    /// else one per allowed core). `dataBytes` is the size of the JSONL files; `numa` adds per-node totals
    /// when the plan places weights on several nodes.
    /// `checkpoints`: the run writes training checkpoints (`lorakit train` always writes one at the end);
    /// `resuming`: it continues from one, whose arrays stay loaded. `rowGroups`: node groups of the
    /// frozen products (nil: this machine's, `NUMAPlan.rowGroupSizes`), each extra one holds a partial dX.
    public static func estimate(model: ModelFootprint, config: TrainingConfig, threads: Int? = nil, dataBytes: Int = 0,
                                numa: NUMAPlan? = nil, checkpoints: Bool = true, resuming: Bool = false,
                                rowGroups: Int? = nil) -> MemoryBudget {
        let c = model.config, lora = config.lora
        let B = config.batchSize, S = config.sequenceLength
        let nThreads = max(1, threads ?? config.threads ?? ThreadPool.defaultThreadCount)
        let P = trainableCount(lora: lora, model: c)
        let groups = rowGroups ?? NUMAPlan.rowGroupSizes(topology: NUMATopology.current(), threads: nThreads).count
        let g = LlamaGraph.plan(config: c, lora: lora, loraCount: P, batch: B, sequence: S, training: true,
                                checkpointing: config.checkpointing, threads: nThreads, rowGroups: groups,
                                precision: config.precision)
        let T = B * S, L = c.blockCount
        var terms: [MemoryTerm] = []
        func add(_ key: String, _ label: String, _ detail: String, _ bytes: Int, _ s: MemoryTerm.Section,
                 _ phase: MemoryTerm.Phase = .steady) {
            terms.append(MemoryTerm(key: key, label: label, detail: detail, bytes: bytes, section: s, phase: phase))
        }
        // Model.
        for w in model.weights {
            add("weights.\(w.type.lowercased())", "base weights \(w.type)", "\(w.tensors) tensor\(w.tensors == 1 ? "" : "s"), \(w.storage)", w.bytes, .model)
        }
        if model.metadataBytes > 0 {
            add("weights.metadata", "file header + metadata", "GGUF keys, tokenizer arrays (mapped)", model.metadataBytes, .model)
        }
        if model.loadOnlyBytes > 0 {
            add("weights.load", "safetensors being quantized", "mapped while loading, released after", model.loadOnlyBytes, .model, .load)
        }
        // Adapter.
        let pf = P * 4
        add("lora.params", "LoRA factors A, B", "\(grouped(P)) params fp32", g.parameters, .adapter)
        add("lora.grads", "gradients", "fp32", g.gradients, .adapter)
        add("lora.adamw", "AdamW m and v", "2 × fp32", 2 * pf, .adapter)
        add("lora.copy", "trainer's copy of the factors", "fp32 (init / resume)", pf, .adapter)
        // GradientReducer: micro-batch gradients summed in global order (one process: the whole sum; under MPI each rank
        // holds its slice of it plus every rank's copy of that slice, about one more fp32 copy).
        add("lora.gradsum", "gradient sum", "fp32, micro-batches added in order (MPI: + received slices)", pf, .adapter)
        if lora.quantGrid {
            // QuantGridLoRA: per adapted matrix (all counted as Q4_K/Q5_K) E [out, in/32] fp32, the mins (1 byte) and
            // dmin (fp32 per 8 groups), plus one [T, in/32] scratch; the saved adapter is the rank-in/32 change.
            let shapes = lora.targets.map { $0.shape(c) }
            let perLayer = shapes.reduce(0) { $0 + $1.out * ($1.in / 32) * 5 + $1.out * ($1.in / 256) * 4 }
            add("lora.grid", "quant-grid corrections", "E [out, in/32] fp32 + 6-bit mins + dmin per matrix",
                L * perLayer + T * (shapes.map { $0.in / 32 }.max() ?? 0) * 4, .adapter)
            let saved = trainableCount(lora: QuantGridLoRA.savedConfig(lora, model: c), model: c) * 4
            add("lora.save", "adapter being saved", "fp32 copy of the factors + the rounded change (rank in/32) being written", pf + saved, .adapter, .save)
        } else {
            add("lora.save", "adapter being saved", "fp32 copy; tensors streamed to the file", pf, .adapter, .save)
        }
        if checkpoints {
            add("lora.checkpoint", "checkpoint being written", "streamed from the live buffers (1 MiB)", 2 << 20, .adapter, .checkpoint)
        }
        if resuming {
            add("lora.resume", "checkpoint resumed from", "3 × fp32 (factors, m, v; kept by the CLI)", 3 * pf, .adapter)
        }
        // Activations.
        add("act.inputs", "layer inputs", "\(L + 1) × [T=\(T), C=\(c.embeddingLength)]", g.layerInputs, .activations)
        let keptDetail = config.checkpointing ? "1 set, layers recomputed in backward (checkpointing on)"
            : "\(g.activationSets) layers × [T, \(Self.keptRowTerms(c))+r·\(lora.targets.count)\(lora.useDoRA ? " + DoRA Σout" : "")] (checkpointing off)"
        add("act.kept", "activations kept for backward", keptDetail, g.activations, .activations)
        add("act.backward", "per-layer backward working set", "dx, dq…du [T, C|kv|F]\(lora.dropout > 0 ? " + dropout" : "")\(lora.useDoRA ? " + DoRA dy" : "")",
            g.backwardScratch, .activations)
        add("act.head", "LM head / loss chunk", "\(g.chunkRows) rows × V=\(c.vocabSize) logits + final norm", g.head, .activations)
        // Scratch.
        add("scratch.dequant", "dequantization tiles", "\(nThreads) thread\(nThreads == 1 ? "" : "s") × panel", g.dequantScratch, .scratch)
        add("scratch.attention", "attention scratch", "transposed K/Q/V + per-thread rows", g.attentionScratch, .scratch)
        if g.bf16Scratch > 0 {
            add("scratch.bf16", "bf16 product scratch", "left operand as bf16 pairs + \(nThreads) W panels (bf16 precision; int8: the LM head)", g.bf16Scratch, .scratch)
        }
        if g.int8Scratch > 0 {
            add("scratch.int8", "int8 product scratch", "left operand as int8 + group scales + \(nThreads) W panels (int8 precision)", g.int8Scratch, .scratch)
        }
        if g.bf16Head > 0 {
            add("scratch.bf16head", "LM head packed to bf16", "forward + backward layouts (bf16 and int8 precision)", g.bf16Head, .scratch)
        }
        if g.groupPartials > 0 {
            add("scratch.numa", "per-node partial dX", "\(groups - 1) extra node group\(groups == 2 ? "" : "s") × [T, max(C, F)]",
                g.groupPartials, .scratch)
        }
        add("scratch.small", "norms, ids, targets, losses", "+ positions, first keys [T]", g.smallTensors, .scratch)
        // Runtime.
        add("runtime.base", "runtime baseline (measured)", "Swift, Foundation, OpenBLAS, \(nThreads) threads",
            Calibration.runtimeBytes + nThreads * Calibration.perThreadBytes, .runtime)
        add("runtime.tokenizer", "tokenizer + parsed metadata", "\(grouped(c.vocabSize)) tokens", c.vocabSize * Calibration.tokenizerBytesPerToken, .runtime)
        if dataBytes > 0 {
            add("runtime.data", "dataset (parsed + tokenized)", "\(ProcessMemory.format(dataBytes)) of JSONL",
                dataBytes * Calibration.dataBytesPerFileByte, .runtime)
        }
        let steady = terms.filter { $0.phase == .steady }.reduce(0) { $0 + $1.bytes }
        add("runtime.heap", "allocator slack", String(format: "%.2g%% of the above", Calibration.heapSlack * 100),
            Int(Double(steady) * Calibration.heapSlack), .runtime)

        let N = c.parameterCount
        let perLayerFull = LayerActivations.floats(T: T, B: B, S: S, config: c, lora: nil) * 4
        let fullActs = (config.checkpointing ? perLayerFull : L * perLayerFull) + (L + 1) * T * c.embeddingLength * 4
            + 2 * T * c.vocabSize * 4
        let full = FullFineTuneEstimate(parameters: N, fp32StateBytes: 16 * N, mixedStateBytes: 16 * N, activationBytes: fullActs)

        var budget = MemoryBudget(
            model: model.name, quantization: model.quantization,
            run: Run(batchSize: B, sequenceLength: S, rank: lora.rank, targets: lora.targets.map(\.rawValue),
                     checkpointing: config.checkpointing, threads: nThreads, dropout: lora.dropout),
            trainableParameters: P, baseParameters: N, terms: terms, fullFineTune: full, perNode: nil)
        if let numa, numa.placesWeights {
            let shapes = model.matrixRows.map { (rows: $0.rows, rowBytes: $0.rowBytes) }
            let w = NUMAPlacement.bytesPerNode(shapes: shapes, plan: numa, align: 1)
            if w.count > 1 {
                let placed = w.values.reduce(0, +)
                let first = numa.groups.first?.memoryNode ?? -1
                var nodes = w.map { NodeBytes(node: $0.key, weightBytes: $0.value, otherBytes: 0) }.sorted { $0.node < $1.node }
                if let i = nodes.firstIndex(where: { $0.node == first }) {
                    nodes[i].otherBytes = budget.peakBytes - placed
                }
                budget.perNode = nodes
            }
        }
        return budget
    }

    static func grouped(_ n: Int) -> String { LoRAParameters.grouped(n) }
}

extension MemoryBudget {
    /// The widths of the rows a layer keeps for backward, for the report: 5C+2kv+3F for Llama; q = Hq·hd when it is
    /// not C, and 2C more for post-norm outputs (Gemma 3). The byte figure itself comes from the buffer plan.
    static func keptRowTerms(_ c: LlamaConfig) -> String {
        let qIsC = c.qDim == c.embeddingLength
        return "\(3 + (qIsC ? 2 : 0) + (c.postNorms ? 2 : 0))C" + (qIsC ? "" : "+2q") + "+2kv+3F"
    }
}
