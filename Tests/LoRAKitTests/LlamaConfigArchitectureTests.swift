import Foundation
import XCTest
@testable import LoRAKit

/// The architecture fields of `LlamaConfig`: Llama defaults, old JSON, per-layer window and RoPE base.
final class LlamaConfigArchitectureTests: XCTestCase {
    let llama = LlamaConfig(blockCount: 2, embeddingLength: 64, feedForwardLength: 96, headCount: 4, headCountKV: 2,
                            vocabSize: 100, contextLength: 128, ropeFreqBase: 10000, rmsNormEps: 1e-5, tiedEmbeddings: true)

    func testLlamaJSONIsUnchangedAndOldJSONDecodes() throws {
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(llama)) as! [String: Any]
        XCTAssertEqual(Set(json.keys), ["blockCount", "embeddingLength", "feedForwardLength", "headCount", "headCountKV",
                                        "vocabSize", "contextLength", "ropeFreqBase", "rmsNormEps", "tiedEmbeddings"])
        let back = try JSONDecoder().decode(LlamaConfig.self, from: JSONEncoder().encode(llama))
        XCTAssertEqual(back, llama)
        XCTAssertEqual(back.architecture, .llama)
        XCTAssertEqual(back.ropeStyle, .interleaved)
        XCTAssertEqual(back.headDim, 16)
        XCTAssertEqual(back.activation, .silu)
        XCTAssertNil(back.attentionWindow(layer: 0))
    }

    func testArchitectureFieldsRoundTrip() throws {
        var c = llama
        c.architecture = .qwen3; c.headDim = 32; c.ropeStyle = .neox; c.qkNorm = true; c.attentionBias = true
        c.slidingWindow = 8; c.slidingWindowPattern = 2; c.ropeLocalBase = 500; c.embeddingScale = 8
        c.postNorms = true; c.activation = .geluTanh; c.queryScale = 0.125
        let back = try JSONDecoder().decode(LlamaConfig.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(back, c)
        XCTAssertEqual(back.qDim, 128)
        XCTAssertEqual(back.kvDim, 64)
        XCTAssertEqual(back.attentionScale, 0.125)
    }

    func testWindowAndRopeBasePerLayer() {
        var c = llama
        c.blockCount = 6
        c.slidingWindow = 4
        XCTAssertEqual((0..<6).map { c.attentionWindow(layer: $0) }, [4, 4, 4, 4, 4, 4])
        XCTAssertEqual(c.ropeBase(layer: 3), 10000)
        c.slidingWindowPattern = 3; c.ropeLocalBase = 10
        XCTAssertEqual((0..<6).map { c.attentionWindow(layer: $0) }, [4, 4, nil, 4, 4, nil])
        XCTAssertEqual((0..<6).map { c.ropeBase(layer: $0) }, [10, 10, 10000, 10, 10, 10000])
    }

    func hf(_ extra: [String: Any]) throws -> LlamaConfig {
        var o: [String: Any] = ["hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
                                "num_key_value_heads": 2, "vocab_size": 100]
        for (k, v) in extra { o[k] = v }
        return try HFConfig.parse(JSONSerialization.data(withJSONObject: o), path: "config.json")
    }

    /// model_type → architecture; Mistral's window (null = none); Qwen2's use_sliding_window refused; transformers 5
    /// `rope_parameters` (theta and llama3 scaling).
    func testHFConfigVariants() throws {
        XCTAssertEqual(try hf(["model_type": "mistral", "sliding_window": 4096]).slidingWindow, 4096)
        XCTAssertNil(try hf(["model_type": "mistral", "sliding_window": NSNull()]).slidingWindow)
        let q2 = try hf(["model_type": "qwen2", "sliding_window": 4096, "use_sliding_window": false])
        XCTAssertEqual(q2.architecture, .qwen2); XCTAssertEqual(q2.ropeStyle, .neox); XCTAssertTrue(q2.attentionBias)
        XCTAssertNil(q2.slidingWindow)
        XCTAssertThrowsError(try hf(["model_type": "qwen2", "sliding_window": 4096, "use_sliding_window": true]))
        let q3 = try hf(["architectures": ["Qwen3ForCausalLM"], "head_dim": 32, "attention_bias": false])
        XCTAssertEqual(q3.architecture, .qwen3); XCTAssertTrue(q3.qkNorm); XCTAssertFalse(q3.attentionBias); XCTAssertEqual(q3.qDim, 128)
        XCTAssertThrowsError(try hf(["architectures": ["GPT2LMHeadModel"]])) { e in XCTAssertTrue("\(e)".contains("Qwen3ForCausalLM"), "\(e)") }
        let r = try hf(["rope_parameters": ["rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192]])
        XCTAssertEqual(r.ropeFreqBase, 500000)
        XCTAssertEqual(r.ropeScaling?.factor, 8)
        XCTAssertEqual(try hf(["rope_parameters": ["rope_theta": 1e6, "rope_type": "default"]]).ropeFreqBase, 1e6)
    }
}
