import Foundation
import XCTest
@testable import LoRAKit

/// A tiny random HF Llama folder: config.json + safetensors (optionally sharded).
struct TinyHFModel {
    let dim = 64, heads = 4, kvHeads = 2, ffn = 96, vocab = 40, layers = 2
    var hd: Int { dim / heads }
    var tensors: [(name: String, shape: [Int], values: [Float])] = []

    init(seed: UInt64, tied: Bool) {
        var rng = TestRNG(seed: seed)
        func add(_ n: String, _ shape: [Int]) {
            tensors.append((n, shape, shape.count == 1 ? rng.matrix(1, shape[0]) : rng.matrix(shape[0], shape[1])))
        }
        add("model.embed_tokens.weight", [vocab, dim])
        for l in 0 ..< layers {
            let p = "model.layers.\(l)."
            add(p + "input_layernorm.weight", [dim])
            add(p + "post_attention_layernorm.weight", [dim])
            add(p + "self_attn.q_proj.weight", [dim, dim])
            add(p + "self_attn.k_proj.weight", [kvHeads * hd, dim])
            add(p + "self_attn.v_proj.weight", [kvHeads * hd, dim])
            add(p + "self_attn.o_proj.weight", [dim, dim])
            add(p + "mlp.gate_proj.weight", [ffn, dim])
            add(p + "mlp.up_proj.weight", [ffn, dim])
            add(p + "mlp.down_proj.weight", [dim, ffn])
        }
        add("model.norm.weight", [dim])
        if !tied { add("lm_head.weight", [vocab, dim]) }
    }

    func config(tied: Bool, overrides: [String: Any] = [:]) -> [String: Any] {
        var c: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": dim, "intermediate_size": ffn,
            "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kvHeads,
            "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "vocab_size": vocab, "max_position_embeddings": 256,
            "tie_word_embeddings": tied, "torch_dtype": "float32",
        ]
        for (k, v) in overrides { c[k] = v }
        return c
    }

    /// Writes the folder; with `shards` > 1 tensors are split round-robin and indexed.
    func write(to dir: String, dtype: SafetensorsDType, tied: Bool, shards: Int = 1, config overrides: [String: Any] = [:]) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: config(tied: tied, overrides: overrides)).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let writers = (0 ..< shards).map { _ in SafetensorsWriter() }
        var map: [String: String] = [:]
        for (i, t) in tensors.enumerated() {
            try writers[i % shards].add(name: t.name, dtype: dtype, shape: t.shape, values: t.values)
            map[t.name] = "model-\(i % shards + 1)-of-\(shards).safetensors"
        }
        if shards == 1 {
            try writers[0].write(to: dir + "/model.safetensors")
        } else {
            for (s, w) in writers.enumerated() { try w.write(to: dir + "/model-\(s + 1)-of-\(shards).safetensors") }
            try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": map])
                .write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        }
    }

    /// Values as stored in `dtype` (what the loader sees).
    func stored(_ name: String, _ dtype: SafetensorsDType) -> [Float] {
        let v = tensors.first { $0.name == name }!.values
        switch dtype {
        case .f16: return v.map { FloatConversion.halfToFloat(FloatConversion.floatToHalf($0)) }
        case .bf16: return v.map { FloatConversion.bf16ToFloat(FloatConversion.floatToBF16($0)) }
        default: return v
        }
    }
}

final class ModelWeightsHFTests: XCTestCase {
    func testPermutationIsTheDocumentedOne() {
        XCTAssertEqual((0 ..< 8).map { ModelWeights.hfRow(forGGUFRow: $0, headDim: 4) }, [0, 2, 1, 3, 4, 6, 5, 7])
        XCTAssertEqual((0 ..< 6).map { ModelWeights.hfRow(forGGUFRow: $0, headDim: 6) }, [0, 3, 1, 4, 2, 5])
        for hd in [2, 8, 64, 128] {
            let rows = (0 ..< 3 * hd).map { ModelWeights.hfRow(forGGUFRow: $0, headDim: hd) }
            XCTAssertEqual(Set(rows).count, 3 * hd)   // a bijection
        }
    }

    /// Largest error allowed for one element of a block quantized as `type`.
    private func bound(_ type: GGMLType, _ block: ArraySlice<Float>) -> Float {
        let lo = block.min()!, hi = block.max()!, amax = max(abs(lo), abs(hi))
        switch type {
        case .q8_0: return amax * (0.5 / 127 + 1e-3) + 1e-7
        case .q4_0: return amax / 8 * 1.01 + 1e-7
        default: return (hi - lo) / 30 * 1.01 + amax * 2e-3 + 1e-7
        }
    }

    private func checkMatrix(_ m: QuantizedMatrix, source: [Float], name: String, type: GGMLType, permuteHD: Int?) throws {
        XCTAssertEqual(m.type, type, name)
        var worst: Float = 0
        for r in 0 ..< m.rows {
            let got = try dequantizedRow(m, r)
            let s = permuteHD.map { ModelWeights.hfRow(forGGUFRow: r, headDim: $0) } ?? r
            let want = source[s * m.cols ..< (s + 1) * m.cols]
            for b in 0 ..< m.cols / 32 {
                let blk = want[want.startIndex + b * 32 ..< want.startIndex + b * 32 + 32]
                let eb = bound(type, blk)
                for j in 0 ..< 32 {
                    let e = abs(got[b * 32 + j] - blk[blk.startIndex + j])
                    worst = max(worst, e / max(eb, 1e-12))
                    if e > eb { XCTFail("\(name) [\(r), \(b * 32 + j)]: error \(e) > bound \(eb)"); return }
                }
            }
        }
        XCTAssertGreaterThan(worst, 0.05, "\(name): suspiciously exact")   // really quantized
    }

    func testRoundTripAllDTypesAndQuantTypes() throws {
        let root = try makeTempDir(self)
        for (i, (dtype, qt, tied, shards)) in [(SafetensorsDType.f32, GGMLType.q8_0, false, 1), (.f16, .q4_0, true, 2),
                                                 (.bf16, .q4_1, false, 3), (.bf16, .q8_0, true, 1), (.f32, .q4_1, true, 2)].enumerated() {
            let model = TinyHFModel(seed: UInt64(100 + i), tied: tied)
            let dir = root + "/m\(i)"
            try model.write(to: dir, dtype: dtype, tied: tied, shards: shards)
            let w = try ModelWeights.load(path: dir, quantizeTo: qt)
            let c = w.config
            XCTAssertEqual([c.blockCount, c.embeddingLength, c.feedForwardLength, c.headCount, c.headCountKV, c.vocabSize, c.contextLength],
                           [2, 64, 96, 4, 2, 40, 256])
            XCTAssertEqual(c.ropeFreqBase, 500000)
            XCTAssertEqual(c.rmsNormEps, 1e-5)
            XCTAssertEqual(c.tiedEmbeddings, tied)
            XCTAssertEqual(w.output == nil, tied)
            XCTAssertEqual(w.source.format, .huggingFace)
            XCTAssertEqual(w.source.quantizedTo, qt)
            let label = "\(dtype.rawValue)→\(qt)"
            try checkMatrix(w.tokenEmbedding, source: model.stored("model.embed_tokens.weight", dtype), name: "\(label) embed", type: qt, permuteHD: nil)
            if let o = w.output { try checkMatrix(o, source: model.stored("lm_head.weight", dtype), name: "\(label) lm_head", type: qt, permuteHD: nil) }
            XCTAssertEqual(w.outputNorm, model.stored("model.norm.weight", dtype))
            for (l, layer) in w.layers.enumerated() {
                let p = "model.layers.\(l)."
                XCTAssertEqual(layer.attnNorm, model.stored(p + "input_layernorm.weight", dtype))
                XCTAssertEqual(layer.ffnNorm, model.stored(p + "post_attention_layernorm.weight", dtype))
                let pairs: [(QuantizedMatrix, String, Bool)] = [
                    (layer.q, "self_attn.q_proj", true), (layer.k, "self_attn.k_proj", true), (layer.v, "self_attn.v_proj", false),
                    (layer.o, "self_attn.o_proj", false), (layer.gate, "mlp.gate_proj", false), (layer.up, "mlp.up_proj", false),
                    (layer.down, "mlp.down_proj", false),
                ]
                for (m, n, perm) in pairs {
                    try checkMatrix(m, source: model.stored(p + n + ".weight", dtype), name: "\(label) \(p + n)", type: qt, permuteHD: perm ? 16 : nil)
                }
            }
        }
    }

    func testQKRowsArePermutedNotCopied() throws {
        let dir = try makeTempDir(self) + "/m"
        let model = TinyHFModel(seed: 5, tied: true)
        try model.write(to: dir, dtype: .f32, tied: true)
        let w = try ModelWeights.load(path: dir)
        let src = model.stored("model.layers.0.self_attn.q_proj.weight", .f32)
        // GGUF row 1 of head 0 is HF row hd/2 = 8; HF row 1 sits at GGUF row 2.
        let r1 = try dequantizedRow(w.layers[0].q, 1), r2 = try dequantizedRow(w.layers[0].q, 2)
        func dist(_ a: [Float], _ s: Int) -> Float { zip(a, src[s * 64 ..< s * 64 + 64]).map { abs($0 - $1) }.max()! }
        XCTAssertLessThan(dist(r1, 8), 0.05)
        XCTAssertGreaterThan(dist(r1, 1), 0.1)
        XCTAssertLessThan(dist(r2, 1), 0.05)
    }

    func testConfigMismatchesAndBadFoldersFailClearly() throws {
        let root = try makeTempDir(self)
        let model = TinyHFModel(seed: 9, tied: false)
        func expect(_ overrides: [String: Any], _ needles: [String], quant: GGMLType = .q8_0, line: UInt = #line) throws {
            let dir = root + "/\(UUID().uuidString)"
            try model.write(to: dir, dtype: .f32, tied: false, config: overrides)
            XCTAssertThrowsError(try ModelWeights.load(path: dir, quantizeTo: quant), line: line) { e in
                for n in needles { XCTAssertTrue("\(e)".contains(n), "'\(e)' lacks '\(n)'", line: line) }
            }
        }
        try expect(["intermediate_size": 128], ["mlp.gate_proj.weight", "[96, 64]", "expected [128, 64]"])
        try expect(["num_key_value_heads": 4], ["k_proj.weight", "[32, 64]", "expected [64, 64]"])
        try expect(["num_hidden_layers": 3], ["missing tensor 'model.layers.2."])
        try expect(["num_hidden_layers": 1], ["num_hidden_layers", "more layers"])
        try expect(["vocab_size": 41], ["embed_tokens.weight", "expected [41, 64]"])
        try expect(["architectures": ["GPT2LMHeadModel"]], ["GPT2LMHeadModel"])
        try expect(["hidden_size": "64"], ["hidden_size", "positive integer"])
        try expect(["num_attention_heads": 5], ["hidden_size", "multiple"])
        try expect(["rope_scaling": ["rope_type": "yarn", "factor": 4]], ["yarn"])
        try expect([:], ["F16", "q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k"], quant: .f16)
        // Untied in config.json but no lm_head in the weights.
        let dir = root + "/untied"
        try TinyHFModel(seed: 3, tied: true).write(to: dir, dtype: .f16, tied: true, config: ["tie_word_embeddings": false])
        XCTAssertThrowsError(try ModelWeights.load(path: dir)) { e in XCTAssertTrue("\(e)".contains("missing tensor 'lm_head.weight'"), "\(e)") }
        // A folder without config.json.
        try FileManager.default.removeItem(atPath: dir + "/config.json")
        XCTAssertThrowsError(try ModelWeights.load(path: dir)) { e in XCTAssertTrue("\(e)".contains("config.json"), "\(e)") }
    }

    func testLlama3RopeScalingAndFactors() throws {
        let dir = try makeTempDir(self) + "/m"
        let model = TinyHFModel(seed: 11, tied: true)
        try model.write(to: dir, dtype: .bf16, tied: true, config: [
            "rope_scaling": ["rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 64]])
        let w = try ModelWeights.load(path: dir)
        XCTAssertEqual(w.config.ropeScaling, RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 64))
        let f = try XCTUnwrap(w.ropeFreqFactors)
        XCTAssertEqual(f.count, 8)
        XCTAssertEqual(f.first, 1)        // highest frequency untouched
        XCTAssertEqual(f.last, 8)         // lowest frequency divided by factor
        XCTAssertEqual(f, f.sorted())     // smooth, monotone in between
    }

    func testHFConfigDefaultsAndSummary() throws {
        let c = try HFConfig.parse(Data(#"{"architectures":["LlamaForCausalLM"],"hidden_size":128,"intermediate_size":256,"num_hidden_layers":3,"num_attention_heads":8,"vocab_size":1000}"#.utf8), path: "c.json")
        XCTAssertEqual(c.headCountKV, 8)          // defaults to num_attention_heads
        XCTAssertEqual(c.contextLength, 2048)
        XCTAssertEqual(c.ropeFreqBase, 10000)
        XCTAssertEqual(c.rmsNormEps, 1e-6)
        XCTAssertFalse(c.tiedEmbeddings)
        XCTAssertNil(c.ropeScaling)
        XCTAssertThrowsError(try HFConfig.parse(Data(#"{"hidden_size":128}"#.utf8), path: "c.json")) { e in
            XCTAssertTrue("\(e)".contains("num_attention_heads"), "\(e)")
        }
        XCTAssertThrowsError(try HFConfig.parse(Data("[]".utf8), path: "c.json"))

        let dir = try makeTempDir(self) + "/m"
        try TinyHFModel(seed: 1, tied: false).write(to: dir, dtype: .bf16, tied: false, shards: 2)
        let s = try ModelSummary.inspect(path: dir)
        XCTAssertEqual(s.format, .huggingFace)
        XCTAssertEqual(s.tensorCount, 1 + 2 * 9 + 2)
        XCTAssertEqual(s.tensorsByType, ["BF16": 21])
        XCTAssertEqual(s.parameterCount, 40 * 64 * 2 + 64 + 2 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 96 * 64))
        XCTAssertEqual(s.bytesByType["BF16"], 2 * s.parameterCount)
        XCTAssertFalse(s.config.tiedEmbeddings)
        XCTAssertFalse(s.hasChatTemplate)
    }
}
