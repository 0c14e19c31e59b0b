import CKernels
import Foundation

/// What `SynthModel.write` should produce: an architecture, the block type of its matrices,
/// the random seed and the tokenizer whose metadata the file carries.
public struct SynthOptions: Sendable {
    /// The architecture (a preset's `config`, possibly with fewer layers).
    public var config: LlamaConfig
    /// Block type of every matrix (`q4_0`, `q4_1`, `q8_0`; `f32`/`f16` for tiny tests).
    public var type: GGMLType
    /// Seed of the weights: the same seed gives the same bytes.
    public var seed: UInt64
    /// Standard deviation of the linear weights and the embeddings (0.02, as Llama's init).
    public var weightStd: Float
    /// Vocabulary stored as `tokenizer.ggml.*` (padded with unused tokens up to `config.vocabSize`);
    /// nil writes no tokenizer.
    public var vocabulary: BPEVocabulary?
    /// `general.name`.
    public var name: String

    /// Options for `preset` with `layers` blocks (nil: the preset's count).
    public init(preset: ModelPreset, type: GGMLType, seed: UInt64 = 0, layers: Int? = nil,
                vocabulary: BPEVocabulary? = nil) {
        var c = preset.config
        if let layers { c.blockCount = layers }
        self.init(config: c, type: type, seed: seed, vocabulary: vocabulary, name: "LoRAKit synthetic \(preset.rawValue)")
    }

    /// Options for any architecture.
    public init(config: LlamaConfig, type: GGMLType, seed: UInt64 = 0, weightStd: Float = 0.02,
                vocabulary: BPEVocabulary? = nil, name: String = "LoRAKit synthetic llama") {
        self.config = config
        self.type = type
        self.seed = seed
        self.weightStd = weightStd
        self.vocabulary = vocabulary
        self.name = name
    }
}

/// Why a synthetic model could not be written.
public enum SynthError: Error, CustomStringConvertible, Equatable {
    case unsupportedType(GGMLType)
    case badShape(String)
    case vocabularyTooLarge(tokens: Int, vocabSize: Int)

    public var description: String {
        switch self {
        case .unsupportedType(let t): return "synth: cannot write matrices as \(t) (use q4_0, q4_1, q8_0, f16 or f32)"
        case .badShape(let m): return "synth: \(m)"
        case .vocabularyTooLarge(let n, let v):
            return "synth: the tokenizer has \(n) tokens but the model's vocab_size is \(v)"
        }
    }
}

/// Writes GGUF Llama models with random weights of realistic scale and real metadata, streamed
/// tensor by tensor (one block of rows at a time), so an 8B model never sits in memory.
///
/// Linear weights and embeddings: N(0, weightStd²) (approximated by a scaled sum of four uniforms),
/// quantized row by row with `lk_quantize_row`; norm weights 1 ± 0.01 (uniform); `rope_freqs.weight`
/// holds the llama3 scaling factors when the config has rope scaling. Row `r` of tensor `i` depends
/// only on (seed, i, r), so rows are generated in parallel and reproducibly.
public enum SynthModel {
    /// The tensors (name, dims innermost first, whether quantized) of a config, in file order.
    public static func tensorShapes(_ c: LlamaConfig) -> [(name: String, dims: [Int], matrix: Bool)] {
        let C = c.embeddingLength, kv = c.kvDim, F = c.feedForwardLength, V = c.vocabSize, Q = c.qDim
        var t: [(String, [Int], Bool)] = [("token_embd.weight", [C, V], true)]
        if c.ropeScaling != nil { t.append(("rope_freqs.weight", [c.headDim / 2], false)) }
        for l in 0..<c.blockCount {
            let p = "blk.\(l)."
            t += [(p + "attn_norm.weight", [C], false),
                  (p + "attn_q.weight", [C, Q], true), (p + "attn_k.weight", [C, kv], true),
                  (p + "attn_v.weight", [C, kv], true), (p + "attn_output.weight", [Q, C], true)]
            if c.attentionBias { t += [(p + "attn_q.bias", [Q], false), (p + "attn_k.bias", [kv], false), (p + "attn_v.bias", [kv], false)] }
            if c.qkNorm { t += [(p + "attn_q_norm.weight", [c.headDim], false), (p + "attn_k_norm.weight", [c.headDim], false)] }
            t += [(p + "ffn_norm.weight", [C], false),
                  (p + "ffn_gate.weight", [C, F], true), (p + "ffn_up.weight", [C, F], true),
                  (p + "ffn_down.weight", [F, C], true)]
        }
        t.append(("output_norm.weight", [C], false))
        if !c.tiedEmbeddings { t.append(("output.weight", [C, V], true)) }
        return t
    }

    /// llama.cpp's `general.file_type` for a file whose matrices are all `t`.
    static func fileType(_ t: GGMLType) -> UInt32 {
        switch t {
        case .f32: return 0
        case .f16: return 1
        case .q4_0: return 2
        case .q4_1: return 3
        case .q8_0: return 7
        default: return 0
        }
    }

    /// Bytes the file's tensor data will take (without header and padding).
    public static func dataBytes(_ o: SynthOptions) -> Int {
        tensorShapes(o.config).reduce(0) { s, t in
            let rb = (t.matrix ? o.type : .f32).rowBytes(t.dims[0]) ?? 0
            return s + rb * t.dims.dropFirst().reduce(1, *)
        }
    }

    /// Writes the model to `path` (atomically). Returns the file size in bytes.
    @discardableResult
    public static func write(_ o: SynthOptions, to path: String) throws -> Int {
        let c = o.config
        guard [.q4_0, .q4_1, .q8_0, .f16, .f32].contains(o.type) else { throw SynthError.unsupportedType(o.type) }
        guard c.architecture != .gemma3 else {
            throw SynthError.badShape("Gemma 3 models are not synthesized; the gemma3 presets size runs (budget)")
        }
        guard c.blockCount > 0, c.headCount > 0, c.headCountKV > 0, c.architecture != .gemma3,
              c.headCount % c.headCountKV == 0, c.headDim % 2 == 0, c.vocabSize > 0 else {
            throw SynthError.badShape("inconsistent architecture \(c)")
        }
        guard o.type.rowBytes(c.embeddingLength) != nil, o.type.rowBytes(c.feedForwardLength) != nil,
              o.type.rowBytes(c.qDim) != nil else {
            throw SynthError.badShape("embedding_length \(c.embeddingLength) and feed_forward_length \(c.feedForwardLength) "
                                      + "must be multiples of the \(o.type) block size \(o.type.blockSize)")
        }
        let w = try GGUFWriter()
        try setMetadata(w, o)
        for (i, t) in tensorShapes(c).enumerated() {
            let tensorSeed = SplitMix64.mix(o.seed &+ UInt64(i + 1) &* 0x9E37_79B9_7F4A_7C15)
            if t.name == "rope_freqs.weight", let s = c.ropeScaling {
                try w.addTensor(name: t.name, dims: t.dims, values: ModelWeights.llama3RopeFactors(s, config: c))
            } else if t.matrix {
                try w.addTensor(name: t.name, dims: t.dims, type: o.type,
                                source: matrixSource(rows: t.dims[1], cols: t.dims[0], type: o.type, std: o.weightStd,
                                                     seed: tensorSeed, tensor: t.name))
            } else {
                var g = SplitMix64(seed: tensorSeed)
                let v = (0..<t.dims[0]).map { _ in 1 + 0.01 * (Float(g.next() >> 40) / Float(1 << 24) * 2 - 1) }
                try w.addTensor(name: t.name, dims: t.dims, values: v)
            }
        }
        try w.write(to: path)
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        return (attrs[.size] as? NSNumber)?.intValue ?? 0
    }

    static func setMetadata(_ w: GGUFWriter, _ o: SynthOptions) throws {
        let c = o.config
        let a = c.architecture.rawValue
        try w.set("general.architecture", .string(a))
        try w.set("general.name", .string(o.name))
        try w.set("general.file_type", .uint32(fileType(o.type)))
        try w.set("general.quantization_version", .uint32(2))
        try w.set("lorakit.synthetic.seed", .uint64(o.seed))
        try w.set(a + ".block_count", .uint32(UInt32(c.blockCount)))
        try w.set(a + ".context_length", .uint32(UInt32(c.contextLength)))
        try w.set(a + ".embedding_length", .uint32(UInt32(c.embeddingLength)))
        try w.set(a + ".feed_forward_length", .uint32(UInt32(c.feedForwardLength)))
        try w.set(a + ".attention.head_count", .uint32(UInt32(c.headCount)))
        try w.set(a + ".attention.head_count_kv", .uint32(UInt32(c.headCountKV)))
        try w.set(a + ".rope.freq_base", .float32(c.ropeFreqBase))
        try w.set(a + ".rope.dimension_count", .uint32(UInt32(c.headDim)))
        if c.headDim * c.headCount != c.embeddingLength {
            try w.set(a + ".attention.key_length", .uint32(UInt32(c.headDim)))
            try w.set(a + ".attention.value_length", .uint32(UInt32(c.headDim)))
        }
        try w.set(a + ".attention.layer_norm_rms_epsilon", .float32(c.rmsNormEps))
        try w.set(a + ".vocab_size", .uint32(UInt32(c.vocabSize)))
        if let v = o.vocabulary { try setTokenizer(w, v, vocabSize: c.vocabSize) }
    }

    /// `tokenizer.ggml.*` keys of a byte-level BPE vocabulary, padded to `vocabSize` with unused
    /// `[PAD<i>]` tokens as llama.cpp's converter does.
    static func setTokenizer(_ w: GGUFWriter, _ v: BPEVocabulary, vocabSize: Int) throws {
        // Added special tokens past the model's vocabulary (Llama 3.2's tokenizer.json has `<|image|>`
        // at 128256) are dropped; a base-vocabulary token that does not fit is an error.
        let extra = v.count > vocabSize ? Array(v.tokenTypes[vocabSize...]) : []
        guard extra.allSatisfy({ $0 == TokenType.control.rawValue || $0 == TokenType.userDefined.rawValue }) else {
            throw SynthError.vocabularyTooLarge(tokens: v.count, vocabSize: vocabSize)
        }
        var tokens = Array(v.tokens.prefix(vocabSize)), types = Array(v.tokenTypes.prefix(vocabSize))
        for id in [v.bosID, v.eosID, v.padID, v.unkID].compactMap({ $0 }) where id >= vocabSize {
            throw SynthError.vocabularyTooLarge(tokens: v.count, vocabSize: vocabSize)
        }
        for i in tokens.count..<vocabSize {
            tokens.append("[PAD\(i)]")
            types.append(TokenType.unused.rawValue)
        }
        try w.set("tokenizer.ggml.model", .string("gpt2"))
        try w.set("tokenizer.ggml.pre", .string(v.pre))
        try w.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
        try w.set("tokenizer.ggml.token_type", .array(types.map { .int32($0) }))
        try w.set("tokenizer.ggml.merges", .array(v.merges.map { .string($0) }))
        if let b = v.bosID { try w.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(b))) }
        if let e = v.eosID { try w.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(e))) }
        if let p = v.padID { try w.set("tokenizer.ggml.padding_token_id", .uint32(UInt32(p))) }
        if let u = v.unkID { try w.set("tokenizer.ggml.unknown_token_id", .uint32(UInt32(u))) }
        try w.set("tokenizer.ggml.add_bos_token", .bool(v.addBOS))
        if let t = v.chatTemplate { try w.set("tokenizer.chat_template", .string(t)) }
    }

    /// Streams a random [rows, cols] matrix of block type `type`, a few MB of rows at a time,
    /// the rows of each slab generated and quantized in parallel.
    static func matrixSource(rows: Int, cols: Int, type: GGMLType, std: Float, seed: UInt64,
                             tensor: String) -> GGUFWriter.ByteSource {
        { emit in
            guard let rb = type.rowBytes(cols) else { throw SynthError.badShape("\(tensor): \(cols) columns as \(type)") }
            let slabRows = max(1, min(rows, (8 << 20) / rb))
            let slab = UnsafeMutableRawPointer.allocate(byteCount: slabRows * rb, alignment: 64)
            defer { slab.deallocate() }
            var r0 = 0
            while r0 < rows {
                let n = min(slabRows, rows - r0)
                try RowCodec.parallelRows(n) { a, b in
                    var buf = [Float](repeating: 0, count: cols)
                    for i in a..<b {
                        try buf.withUnsafeMutableBufferPointer { p in
                            gaussianRow(p, std: std, seed: seed, row: r0 + i)
                            try RowCodec.quantize(type, slab + i * rb, p.baseAddress!, cols, path: "(synth)", tensor: tensor)
                        }
                    }
                }
                try emit(UnsafeRawBufferPointer(start: slab, count: n * rb))
                r0 += n
            }
        }
    }

    /// Fills `p` with N(0, std²)-like values: per element, the sum of four 16-bit uniforms,
    /// centred and scaled to unit variance (Irwin–Hall), from SplitMix64 keyed by (seed, row).
    @inline(__always)
    static func gaussianRow(_ p: UnsafeMutableBufferPointer<Float>, std: Float, seed: UInt64, row: Int) {
        var s = SplitMix64.mix(seed ^ (UInt64(row) &* 0xD1B5_4A32_D192_ED03))
        // Sum of 4 U(0, 65535) has mean 131070 and variance 4 · (65536² − 1) / 12.
        let scale = std / (Float(65536) / Float(3).squareRoot())
        for j in 0..<p.count {
            s &+= 0x9E37_79B9_7F4A_7C15
            let z = SplitMix64.mix(s)
            let sum = (z & 0xFFFF) + (z >> 16 & 0xFFFF) + (z >> 32 & 0xFFFF) + (z >> 48)
            p[j] = (Float(Int64(sum) - 131_070)) * scale
        }
    }
}
