import Foundation

extension ModelWeights {
    /// Block types HF weights can be quantized to at load (F32 keeps them exact: tiny models, golden tests).
    public static let loadQuantizationTypes: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K, .f32]

    /// Source row of GGUF row `g` of a q/k projection with `headDim`-row heads:
    /// `gguf_row[h·hd + 2i + j] = hf_row[h·hd + j·hd/2 + i]`.
    @inline(__always)
    public static func hfRow(forGGUFRow g: Int, headDim hd: Int) -> Int {
        let h = g / hd, w = g % hd
        return h * hd + (w & 1) * (hd / 2) + (w >> 1)
    }

    /// Builds the weights of an HF Llama folder, quantizing every matrix to `type` with q/k
    /// rows permuted to GGUF order.
    static func loadHF(directory: String, quantizeTo type: GGMLType) throws -> ModelWeights {
        let configPath = directory + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw FormatError.missing(path: directory, what: "config.json (not a GGUF file or Hugging Face model folder)")
        }
        guard loadQuantizationTypes.contains(type) else {
            let names = loadQuantizationTypes.map { $0.description.lowercased() }.joined(separator: ", ")
            throw FormatError.unsupported(path: directory, message: "quantizing to \(type) at load (choose one of \(names))")
        }
        let c = try HFConfig.load(path: configPath)
        let st = try SafetensorsModel(directory: directory)
        let dim = c.embeddingLength, kvDim = c.kvDim, ffn = c.feedForwardLength, hd = c.headDim

        func mat(_ name: String, rows: Int, cols: Int, permuteHeads: Bool = false) throws -> QuantizedMatrix {
            let type = type.storable(cols: cols) // K-quants: llama-quantize's fallback for rows not of 256
            guard let (file, t) = st.locate(name) else { throw FormatError.missing(path: directory, what: "tensor '\(name)'") }
            guard t.shape == [rows, cols] else {
                throw FormatError.shapeMismatch(path: file.path, tensor: name, expected: [rows, cols], actual: t.shape)
            }
            guard let src = t.dtype.ggmlType else {
                throw FormatError.unsupported(path: file.path, message: "tensor '\(name)' has dtype \(t.dtype.rawValue); only F32, F16 and BF16 are read")
            }
            guard let rb = type.rowBytes(cols), let srcRB = src.rowBytes(cols) else {
                throw FormatError.unsupported(path: file.path, message: "tensor '\(name)': rows of \(cols) are not a multiple of the \(type) block size \(type.blockSize)")
            }
            let bytes = try file.tensorBytes(named: name)
            let storage = try ByteStorage.allocate(count: rb * rows) { dst in
                try bytes.withUnsafeBytes { raw in
                    let base = raw.baseAddress!
                    try RowCodec.parallelRows(rows) { r0, r1 in
                        var buf = [Float](repeating: 0, count: cols)
                        for r in r0 ..< r1 {
                            let s = permuteHeads ? hfRow(forGGUFRow: r, headDim: hd) : r
                            try buf.withUnsafeMutableBufferPointer { b in
                                try RowCodec.dequantize(src, b.baseAddress!, base + s * srcRB, cols)
                                if let j = b.firstIndex(where: { !$0.isFinite }) {
                                    throw FormatError.badTensor(path: file.path, tensor: name, message: "value \(b[j]) at [\(s), \(j)] is not finite")
                                }
                                try RowCodec.quantize(type, dst + r * rb, b.baseAddress!, cols, path: file.path, tensor: name)
                            }
                        }
                    }
                }
            }
            guard let m = QuantizedMatrix(type: type, rows: rows, cols: cols, storage: storage, offset: 0) else {
                throw FormatError.badTensor(path: file.path, tensor: name, message: "cannot hold \(rows)×\(cols) as \(type)")
            }
            return m
        }
        func vec(_ name: String, _ n: Int) throws -> [Float] {
            guard let (file, t) = st.locate(name) else { throw FormatError.missing(path: directory, what: "tensor '\(name)'") }
            guard t.shape == [n] else { throw FormatError.shapeMismatch(path: file.path, tensor: name, expected: [n], actual: t.shape) }
            return try file.floats(named: name)
        }
        let permute = c.ropeStyle == .interleaved   // the converter's q/k row order (NEOX models keep HF's)
        /// A q/k bias in the weights' row order.
        func bias(_ name: String, _ n: Int, permuteHeads: Bool) throws -> [Float] {
            let b = try vec(name, n)
            return permuteHeads && permute ? (0 ..< n).map { b[hfRow(forGGUFRow: $0, headDim: hd)] } : b
        }

        var layers: [LayerWeights] = []
        layers.reserveCapacity(c.blockCount)
        for i in 0 ..< c.blockCount {
            let p = "model.layers.\(i)."
            layers.append(LayerWeights(
                attnNorm: try vec(p + "input_layernorm.weight", dim),
                ffnNorm: try vec(p + "post_attention_layernorm.weight", dim),
                q: try mat(p + "self_attn.q_proj.weight", rows: c.qDim, cols: dim, permuteHeads: permute),
                k: try mat(p + "self_attn.k_proj.weight", rows: kvDim, cols: dim, permuteHeads: permute),
                v: try mat(p + "self_attn.v_proj.weight", rows: kvDim, cols: dim),
                o: try mat(p + "self_attn.o_proj.weight", rows: dim, cols: c.qDim),
                gate: try mat(p + "mlp.gate_proj.weight", rows: ffn, cols: dim),
                up: try mat(p + "mlp.up_proj.weight", rows: ffn, cols: dim),
                down: try mat(p + "mlp.down_proj.weight", rows: dim, cols: ffn),
                qBias: c.attentionBias ? try bias(p + "self_attn.q_proj.bias", c.qDim, permuteHeads: true) : nil,
                kBias: c.attentionBias ? try bias(p + "self_attn.k_proj.bias", kvDim, permuteHeads: true) : nil,
                vBias: c.attentionBias ? try bias(p + "self_attn.v_proj.bias", kvDim, permuteHeads: false) : nil,
                qNorm: c.qkNorm ? try vec(p + "self_attn.q_norm.weight", hd) : nil,
                kNorm: c.qkNorm ? try vec(p + "self_attn.k_norm.weight", hd) : nil))
        }
        if st.locate("model.layers.\(c.blockCount).input_layernorm.weight") != nil {
            throw FormatError.invalidValue(path: configPath, field: "num_hidden_layers", offset: 0,
                                           message: "\(c.blockCount) but the safetensors hold more layers")
        }
        let emb = try mat("model.embed_tokens.weight", rows: c.vocabSize, cols: dim)
        var cfg = c
        var out: QuantizedMatrix? = nil
        if !c.tiedEmbeddings {
            out = try mat("lm_head.weight", rows: c.vocabSize, cols: dim)
        }
        cfg.tiedEmbeddings = out == nil
        return ModelWeights(config: cfg, tokenEmbedding: emb, outputNorm: try vec("model.norm.weight", dim), output: out,
                            ropeFreqFactors: c.ropeScaling.map { llama3RopeFactors($0, config: c) }, layers: layers,
                            source: ModelSource(path: directory, format: .huggingFace, quantizedTo: type), gguf: nil)
    }

    /// Per-frequency RoPE divisors of "llama3" scaling, as the HF→GGUF converter stores them in
    /// `rope_freqs.weight`: 1 for high frequencies, `factor` for low ones, smoothly between.
    /// [headDim / 2]
    public static func llama3RopeFactors(_ s: RopeScaling, config c: LlamaConfig) -> [Float] {
        let hd = c.headDim
        let lowWavelen = Double(s.originalContextLength) / Double(s.lowFreqFactor)
        let highWavelen = Double(s.originalContextLength) / Double(s.highFreqFactor)
        return (0 ..< hd / 2).map { i in
            let freq = 1.0 / pow(Double(c.ropeFreqBase), Double(2 * i) / Double(hd))
            let wavelen = 2 * Double.pi / freq
            if wavelen < highWavelen { return 1 }
            if wavelen > lowWavelen { return s.factor }
            let smooth = (Double(s.originalContextLength) / wavelen - Double(s.lowFreqFactor))
                / Double(s.highFreqFactor - s.lowFreqFactor)
            return Float(1 / ((1 - smooth) / Double(s.factor) + smooth))
        }
    }
}
