import Foundation
import XCTest
@testable import LoRAKit

/// LoRA+ (`loraPlusRatio`): B — and DoRA's magnitudes, grouped with B as PEFT's `create_loraplus_optimizer` does —
/// learn at ratio × lr; A at lr. Plumbing through the configuration file, overrides and JSON (checkpoints).
final class LoRAPlusTests: XCTestCase {
    func testOneAdamWStepScalesBAndMagnitude() throws {
        let model = LlamaConfig.tinyForLoRAPlus
        let p = try LoRAParameters(config: LoRAConfig(rank: 2, targets: [.q_proj, .down_proj], useDoRA: true), model: model)
        let start = SplitMix64.uniformSymmetric(seed: 5, count: p.count)
        let grad = SplitMix64.uniformSymmetric(seed: 6, count: p.count)
        func step(_ ratio: Float?) -> [Float] {
            let cfg = AdamWConfig(weightDecay: 0.01, maxGradNorm: nil, loraPlusRatio: ratio)
            let st = AdamWState(count: p.count, config: cfg, slots: p.slots)
            let params = FloatBuffer(p.count), grads = FloatBuffer(p.count)
            params.copy(from: start); grads.copy(from: grad)
            st.update(params: params, grads: grads, lr: 1e-3)
            return (0..<p.count).map { params.ptr[$0] - start[$0] }
        }
        let plain = step(nil), plus = step(16)
        var checked = 0
        for s in p.slots {
            for j in s.aOffset..<s.bOffset { XCTAssertEqual(plus[j], plain[j], "A moves at lr") }
            let end = s.magnitudeOffset! + s.outFeatures
            for j in s.bOffset..<end {
                // First step: Δ = −lr·k·(wd·p + g/(|g| + eps)); p ~ 1 leaves ~1e-7 of rounding in each Δ.
                let expected = -1e-3 * 16 * (0.01 * Double(start[j]) + Double(grad[j]) / (abs(Double(grad[j])) + 1e-8))
                XCTAssertEqual(Double(plus[j]), expected, accuracy: 4e-6, "B and m move at 16·lr")
                XCTAssertEqual(plus[j], 16 * plain[j], accuracy: 4e-6)
                checked += 1
            }
        }
        XCTAssertEqual(checked, p.slots.reduce(0) { $0 + $1.outFeatures * 3 })
    }

    func testConfigPlumbing() throws {
        var o = TrainingOverrides()
        o.loraPlusRatio = 16
        o.useDoRA = true
        var c = o.applied(to: TrainingConfig())
        XCTAssertEqual(c.optimizer.loraPlusRatio, 16)
        XCTAssertTrue(c.lora.useDoRA)
        let back = try JSONDecoder().decode(TrainingConfig.self, from: try JSONEncoder().encode(c))
        XCTAssertEqual(back, c)
        o.loraPlusRatio = 0
        c = o.applied(to: c)
        XCTAssertNil(c.optimizer.loraPlusRatio, "0 turns it off")
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(c.optimizer), as: UTF8.self).contains("loraPlusRatio"))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-loraplus-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/c.json"
        try #"{"lora": {"useDoRA": true}, "optimizer": {"loraPlusRatio": 8}}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let f = try TrainingConfig.load(file: file, over: TrainingConfig())
        XCTAssertEqual(f.optimizer.loraPlusRatio, 8)
        XCTAssertTrue(f.lora.useDoRA)

        var bad = TrainingConfig()
        bad.optimizer.loraPlusRatio = -1
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("LoRA+"), "\($0)") }
    }
}

extension LlamaConfig {
    /// Shapes only (no weights): 2 layers, dim 32, ffn 48.
    static var tinyForLoRAPlus: LlamaConfig {
        LlamaConfig(blockCount: 2, embeddingLength: 32, feedForwardLength: 48, headCount: 4, headCountKV: 2, vocabSize: 40,
                    contextLength: 64, ropeFreqBase: 10000, rmsNormEps: 1e-5, tiedEmbeddings: false)
    }
}
