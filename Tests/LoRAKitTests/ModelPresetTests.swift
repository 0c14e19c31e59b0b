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

    func testSmolLM2PresetMatchesFile() throws {
        XCTAssertEqual(ModelPreset.smollm2_135m.config.parameterCount, 134_515_008)
        XCTAssertThrowsError(try ModelPreset.named("gpt-5")) { XCTAssertTrue("\($0)".contains("llama-3.1-8b")) }
    }
}
