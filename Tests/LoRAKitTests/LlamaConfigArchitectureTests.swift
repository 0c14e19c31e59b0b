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
}
