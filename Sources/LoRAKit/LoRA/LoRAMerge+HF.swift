import Foundation

extension LoRAMerge {
    /// One tensor of the HF output: its name, shape and a producer called while the file is written.
    struct HFTensor {
        var name: String
        var shape: [Int]
        var values: () throws -> [Float]
    }

    /// Writes `model` with `adapter` folded in as a Hugging Face folder at `dir`: `config.json`,
    /// `model.safetensors` (HF tensor names, q/k rows un-permuted to HF's half-split order, `dtype` F32, F16
    /// or BF16), and `tokenizer.json` + `tokenizer_config.json` (from the model's vocabulary) when the
    /// model carries one. Tensors are produced and written one at a time. `onMatrix` is called per merged matrix.
    @discardableResult
    public static func writeHF(model: ModelWeights, adapter: LoRAParameters, to dir: String, dtype: GGMLType = .f32,
                               pool: ThreadPool, onMatrix: ((MergedMatrixReport) -> Void)? = nil) throws -> [MergedMatrixReport] {
        let st: SafetensorsDType
        switch dtype {
        case .f32: st = .f32
        case .f16: st = .f16
        case .bf16: st = .bf16
        default: throw MergeError.typeNotForHF(dtype)
        }
        let c = model.config
        try check(adapter, model: c)
        let box = MergeReportBox()
        box.onMatrix = onMatrix
        var tensors: [HFTensor] = []
        let E = model.tokenEmbedding
        tensors.append(HFTensor(name: "model.embed_tokens.weight", shape: [E.rows, E.cols]) { E.dequantized() })
        let hfNames: [LoRATarget: String] = [
            .q_proj: "self_attn.q_proj", .k_proj: "self_attn.k_proj", .v_proj: "self_attn.v_proj", .o_proj: "self_attn.o_proj",
            .gate_proj: "mlp.gate_proj", .up_proj: "mlp.up_proj", .down_proj: "mlp.down_proj",
        ]
        for (l, lw) in model.layers.enumerated() {
            let p = "model.layers.\(l)."
            tensors.append(HFTensor(name: p + "input_layernorm.weight", shape: [c.embeddingLength]) { lw.attnNorm })
            for t in LoRATarget.allCases {
                let W0: QuantizedMatrix
                switch t {
                case .q_proj: W0 = lw.q
                case .k_proj: W0 = lw.k
                case .v_proj: W0 = lw.v
                case .o_proj: W0 = lw.o
                case .gate_proj: W0 = lw.gate
                case .up_proj: W0 = lw.up
                case .down_proj: W0 = lw.down
                }
                let name = p + hfNames[t]! + ".weight"
                let slot = adapter.slot(layer: l, target: t)
                tensors.append(HFTensor(name: name, shape: [W0.rows, W0.cols]) {
                    var w: [Float]
                    if let s = slot {
                        let (m, delta) = try merged(base: W0, adapter: adapter, slot: s, pool: pool)
                        let (_, err) = try store(m, rows: W0.rows, cols: W0.cols, as: dtype)
                        box.add(MergedMatrixReport(name: name, type: dtype.description, relativeError: err, relativeDelta: delta))
                        w = m
                    } else {
                        w = W0.dequantized()
                    }
                    if let heads = QKPermutation.heads(for: t, model: c) {
                        w = try QKPermutation.ggufToHF(w, rows: W0.rows, cols: W0.cols, heads: heads)
                    }
                    return w
                })
                tensors += hfFrozenVectors(lw, after: t, prefix: p + "self_attn.", model: c)
                if t == .o_proj {
                    tensors.append(HFTensor(name: p + "post_attention_layernorm.weight", shape: [c.embeddingLength]) { lw.ffnNorm })
                }
            }
        }
        tensors.append(HFTensor(name: "model.norm.weight", shape: [c.embeddingLength]) { model.outputNorm })
        if let H = model.output {
            tensors.append(HFTensor(name: "lm_head.weight", shape: [H.rows, H.cols]) { H.dequantized() })
        }

        if c.architecture == .gemma3 { tensors = gemma3HFTensors(tensors, model: model) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeSafetensors(tensors, dtype: st, to: dir + "/model.safetensors")
        let vocab = try? BPEVocabulary(modelPath: model.source.path)
        try writeJSON(hfConfig(c, dtype: st, vocabulary: vocab), to: dir + "/config.json")
        if let vocab {
            if vocab.isSentencePiece {
                let data = SentencePieceTokenizerFile(vocab).json()
                try AtomicFileWriter.write(path: dir + "/tokenizer.json") { emit in try data.withUnsafeBytes { try emit($0) } }
            } else {
                try writeJSON(tokenizerJSON(vocab), to: dir + "/tokenizer.json")
            }
            try writeJSON(tokenizerConfigJSON(vocab), to: dir + "/tokenizer_config.json")
        }
        return box.reports
    }

    /// A safetensors file written tensor by tensor (the header is known from the shapes).
    static func writeSafetensors(_ tensors: [HFTensor], dtype: SafetensorsDType, to path: String) throws {
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var pos = 0
        for t in tensors {
            let n = t.shape.reduce(1, *) * dtype.size
            header[t.name] = ["dtype": dtype.rawValue, "shape": t.shape, "data_offsets": [pos, pos + n]] as [String: Any]
            pos += n
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        try AtomicFileWriter.write(path: path) { emit in
            try withUnsafeBytes(of: UInt64(json.count).littleEndian) { try emit($0) }
            try json.withUnsafeBytes { try emit($0) }
            for t in tensors {
                let v = try t.values()
                guard v.count == t.shape.reduce(1, *) else {
                    throw FormatError.badTensor(path: path, tensor: t.name, message: "\(v.count) values for shape \(t.shape)")
                }
                switch dtype {
                case .f16:
                    let h = v.map { FloatConversion.floatToHalf($0).littleEndian }
                    try h.withUnsafeBytes { try emit($0) }
                case .bf16:
                    let h = v.map { FloatConversion.floatToBF16($0).littleEndian }
                    try h.withUnsafeBytes { try emit($0) }
                default:
                    try v.withUnsafeBytes { try emit($0) }
                }
            }
        }
    }

    static func writeJSON(_ obj: Any, to path: String) throws {
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys, .prettyPrinted])
        try AtomicFileWriter.write(path: path) { emit in try data.withUnsafeBytes { try emit($0) } }
    }

    /// transformers' LlamaConfig for this model.
    static func hfConfig(_ c: LlamaConfig, dtype: SafetensorsDType, vocabulary v: BPEVocabulary?) -> [String: Any] {
        var d: [String: Any] = [
            "architectures": [c.hfArchitecture.className], "model_type": c.hfArchitecture.modelType, "hidden_act": "silu",
            "hidden_size": c.embeddingLength, "intermediate_size": c.feedForwardLength,
            "num_attention_heads": c.headCount, "num_key_value_heads": c.headCountKV, "num_hidden_layers": c.blockCount,
            "head_dim": c.headDim, "rms_norm_eps": Double(c.rmsNormEps), "rope_theta": Double(c.ropeFreqBase),
            "vocab_size": c.vocabSize, "max_position_embeddings": c.contextLength, "tie_word_embeddings": c.tiedEmbeddings,
            "attention_bias": c.attentionBias, "mlp_bias": false, "use_cache": true, "initializer_range": 0.02,
            "torch_dtype": dtype == .f32 ? "float32" : dtype == .f16 ? "float16" : "bfloat16",
        ]
        if let r = c.ropeScaling {
            d["rope_scaling"] = ["rope_type": "llama3", "factor": Double(r.factor), "low_freq_factor": Double(r.lowFreqFactor),
                                 "high_freq_factor": Double(r.highFreqFactor),
                                 "original_max_position_embeddings": r.originalContextLength] as [String: Any]
        }
        if let w = c.slidingWindow { d["sliding_window"] = w }
        if c.architecture != .llama { d["use_sliding_window"] = false }
        if c.architecture == .gemma3 { d.merge(gemma3HFConfig(c)) { _, new in new } }
        if let b = v?.bosID { d["bos_token_id"] = b }
        if let e = v?.eosID { d["eos_token_id"] = e }
        if let p = v?.padID { d["pad_token_id"] = p }
        return d
    }
}
