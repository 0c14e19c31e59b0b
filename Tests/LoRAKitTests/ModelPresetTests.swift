import LoRAKit
import XCTest

final class ModelPresetTests: XCTestCase {
    /// The trainable counts of issue F: GQA makes k/v smaller (a naive count gives 16,777,216 and 45,088,768).
    func testLlama31TrainableCounts() throws {
        let c = ModelPreset.llama31_8b.config
        let attn = try LoRAParameters(config: LoRAConfig(rank: 16, targets: [.q_proj, .k_proj, .v_proj, .o_proj]), model: c)
        XCTAssertEqual(attn.count, 13_631_488)
        let all = try LoRAParameters(config: LoRAConfig(rank: 16, targets: LoRATarget.allCases), model: c)
        XCTAssertEqual(all.count, 41_943_040)
        XCTAssertEqual(c.parameterCount, 8_030_261_248)
    }

    /// The Gemma 3 presets' parameter counts equal the published ones (KerasHub's gemma3_1b / 4b_text / 12b_text:
    /// 999,885,952, 3,880,099,328, 11,765,788,416; the 270M file's tensors add up to 268,098,176).
    func testGemma3PresetCounts() throws {
        XCTAssertEqual(ModelPreset.gemma3_270m.config.parameterCount, 268_098_176)
        XCTAssertEqual(ModelPreset.gemma3_1b.config.parameterCount, 999_885_952)
        XCTAssertEqual(ModelPreset.gemma3_4b.config.parameterCount, 3_880_099_328)
        XCTAssertEqual(ModelPreset.gemma3_12b.config.parameterCount, 11_765_788_416)
        let c = ModelPreset.gemma3_1b.config
        XCTAssertEqual(c.architecture, .gemma3)
        XCTAssertEqual((0..<c.blockCount).filter { c.attentionWindow(layer: $0) == nil }, [5, 11, 17, 23])
        XCTAssertEqual(c.ropeBase(layer: 0), 10000)
        XCTAssertEqual(c.ropeBase(layer: 5), 1_000_000)
    }

    func testSmolLM2PresetMatchesFile() throws {
        XCTAssertEqual(ModelPreset.smollm2_135m.config.parameterCount, 134_515_008)
        XCTAssertThrowsError(try ModelPreset.named("gpt-5")) { XCTAssertTrue("\($0)".contains("llama-3.1-8b")) }
    }
}
