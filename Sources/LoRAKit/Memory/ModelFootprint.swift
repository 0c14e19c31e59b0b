import Foundation

/// What the memory accountant needs to know about a model, read without loading its weights:
/// the architecture and the bytes each tensor will occupy once loaded, by block type.
public struct ModelFootprint: Codable, Sendable, Equatable {
    /// Weight bytes of one block type.
    public struct WeightGroup: Codable, Sendable, Equatable {
        /// Block type name as the model holds it in memory (`Q4_1`, `Q8_0`, `F32`, …).
        public var type: String
        public var tensors: Int
        public var bytes: Int
        /// How the bytes are held: `mapped` (file pages, resident once touched) or `owned` (converted at load).
        public var storage: String
    }

    /// File name or preset name.
    public var name: String
    /// `gguf`, `hf` or `preset`.
    public var source: String
    public var config: LlamaConfig
    /// Weights by block type, as held during training.
    public var weights: [WeightGroup]
    /// File bytes outside the tensors that are read and stay mapped (GGUF header, metadata, tokenizer).
    public var metadataBytes: Int
    /// Bytes mapped only while loading (HF safetensors being quantized); 0 for GGUF.
    public var loadOnlyBytes: Int
    /// Rows and bytes per row of the frozen matrices (for per-NUMA-node totals).
    public var matrixRows: [MatrixRows]
    /// Block type of the matrices ("Q4_1", …); the most common one when mixed.
    public var quantization: String
    /// True when the quantization can still be chosen at load (HF folders and presets).
    public var quantizationSelectable: Bool

    /// Shape of one frozen matrix in memory.
    public struct MatrixRows: Codable, Sendable, Equatable {
        public var rows: Int
        public var rowBytes: Int
    }

    /// Bytes of all weights as held.
    public var weightBytes: Int { weights.reduce(0) { $0 + $1.bytes } }

    /// Reads a `.gguf` file's header or a Hugging Face folder's `config.json` and safetensors headers.
    /// `quantizeTo` is the block type HF weights will be quantized to at load.
    public static func read(path: String, quantizeTo: GGMLType = .q8_0) throws -> ModelFootprint {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError.io(path: path, message: "no such file or folder")
        }
        if isDir.boolValue { return try huggingFace(directory: path, quantizeTo: quantizeTo) }
        return try gguf(GGUFFile(path: path, headerOnly: true))   // sizes come from the tensor infos alone
    }

    /// From a GGUF file's tensor infos; no tensor data is touched. Every tensor stays mapped in its own block
    /// type (K-quants and Q5 blocks included), so the weights count at their file size.
    public static func gguf(_ f: GGUFFile) throws -> ModelFootprint {
        let c = try LlamaConfig(gguf: f)
        var groups: [String: WeightGroup] = [:]
        var rows: [MatrixRows] = []
        var typeCount: [String: Int] = [:]
        for t in f.tensors {
            groups["\(t.type)", default: WeightGroup(type: "\(t.type)", tensors: 0, bytes: 0, storage: "mapped")].tensors += 1
            groups["\(t.type)"]!.bytes += t.byteCount
            guard t.dims.count == 2 else { continue }
            rows.append(MatrixRows(rows: t.dims[1], rowBytes: t.type.rowBytes(t.dims[0]) ?? 0))
            typeCount["\(t.type)", default: 0] += t.elementCount
        }
        let tensorBytes = f.tensors.reduce(0) { $0 + $1.byteCount }
        // A header-only file (weights absent) is budgeted from its tensor infos, as the full file would be.
        let headerOnly = f.dataEnd != nil
        return ModelFootprint(
            name: (f.path as NSString).lastPathComponent + (headerOnly ? " (header only: weights absent)" : ""), source: "gguf", config: c,
            weights: groups.values.sorted { $0.bytes > $1.bytes },
            metadataBytes: headerOnly ? f.dataOffset : max(0, f.fileSize - tensorBytes),
            loadOnlyBytes: 0, matrixRows: rows, quantization: typeCount.max { $0.value < $1.value }?.key ?? "?",
            quantizationSelectable: false)
    }

    /// From a Hugging Face folder: `config.json` for the shapes, the safetensors headers for the
    /// bytes mapped while quantizing. Matrices become `quantizeTo`, norms fp32.
    public static func huggingFace(directory: String, quantizeTo: GGMLType) throws -> ModelFootprint {
        let c = try HFConfig.load(path: directory + "/config.json")
        let st = try SafetensorsModel(directory: directory)
        let mapped = st.files.reduce(0) { s, f in s + ((try? FileManager.default.attributesOfItem(atPath: f.path)[.size] as? Int) ?? 0) }
        var fp = preset(config: c, name: (directory as NSString).lastPathComponent, quantization: quantizeTo)
        fp.source = "hf"
        fp.metadataBytes = 0
        fp.loadOnlyBytes = mapped
        for i in fp.weights.indices { fp.weights[i].storage = "owned" }
        return fp
    }

    /// For an architecture alone (`--preset`), assuming every matrix stored as `quantization` in a GGUF file
    /// with a tokenizer in its metadata (K-quants: rows that are not multiples of 256 at llama-quantize's
    /// fallback type, `GGMLType.storable(cols:)`).
    public static func preset(config c: LlamaConfig, name: String, quantization q: GGMLType) -> ModelFootprint {
        var shapes: [(rows: Int, cols: Int)] = [(c.vocabSize, c.embeddingLength)]
        if !c.tiedEmbeddings { shapes.append((c.vocabSize, c.embeddingLength)) }
        for _ in 0..<c.blockCount { shapes += LoRATarget.allCases.map { ($0.shape(c).out, $0.shape(c).in) } }
        let rows = shapes.map { MatrixRows(rows: $0.rows, rowBytes: q.storable(cols: $0.cols).rowBytes($0.cols) ?? $0.cols * 4) }
        // Per layer: two norms, plus q/k/v biases (Qwen2) and per-head q/k norms (Qwen3).
        let perLayer = (2 * c.embeddingLength + (c.attentionBias ? c.qDim + 2 * c.kvDim : 0) + (c.qkNorm ? 2 * c.headDim : 0)) * 4
        let norms = c.blockCount * perLayer + c.embeddingLength * 4 + (c.ropeScaling == nil ? 0 : c.headDim / 2 * 4)
        let vectors = c.blockCount * (2 + (c.attentionBias ? 3 : 0) + (c.qkNorm ? 2 : 0)) + 1
        return ModelFootprint(
            name: name, source: "preset", config: c,
            weights: [WeightGroup(type: "\(q)", tensors: shapes.count, bytes: rows.reduce(0) { $0 + $1.rows * $1.rowBytes }, storage: "mapped"),
                      WeightGroup(type: "F32", tensors: vectors, bytes: norms, storage: "mapped")],
            metadataBytes: c.vocabSize * ModelFootprint.metadataBytesPerToken, loadOnlyBytes: 0, matrixRows: rows,
            quantization: "\(q)", quantizationSelectable: true)
    }

    /// GGUF metadata per vocabulary entry (token text, score, type, merges), measured on SmolLM2's
    /// file (1.79 MB for 49,152 tokens) and Llama 3's.
    static let metadataBytesPerToken = 37

    /// The same model with its matrices held as `q` (for the "4-bit instead of 8-bit" suggestion).
    func requantized(to q: GGMLType) -> ModelFootprint {
        guard quantizationSelectable else { return self }
        var fp = ModelFootprint.preset(config: config, name: name, quantization: q)
        fp.source = source
        fp.loadOnlyBytes = loadOnlyBytes
        fp.metadataBytes = metadataBytes
        if source == "hf" { for i in fp.weights.indices { fp.weights[i].storage = "owned" } }
        return fp
    }
}

extension ModelFootprint {
    /// From weights already loaded: the GGUF header when they came from one, else the matrices held.
    public static func loaded(_ w: ModelWeights) throws -> ModelFootprint {
        if let f = w.gguf { return try gguf(f) }
        var fp = preset(config: w.config, name: (w.source.path as NSString).lastPathComponent,
                        quantization: w.source.quantizedTo ?? w.tokenEmbedding.type)
        fp.source = "hf"
        fp.metadataBytes = 0
        for i in fp.weights.indices { fp.weights[i].storage = "owned" }
        return fp
    }
}
