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
        try #"{"lora": {"useDoRA": true}, "optimizer": {"loraPlusRatio": 8}}"#.write(toFile: file, atomically: false, encoding: .utf8)
        let f = try TrainingConfig.load(file: file, over: TrainingConfig())
        XCTAssertEqual(f.optimizer.loraPlusRatio, 8)
        XCTAssertTrue(f.lora.useDoRA)

        var bad = TrainingConfig()
        bad.optimizer.loraPlusRatio = -1
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("LoRA+"), "\($0)") }
    }
}

extension LoRAPlusTests {
    /// A DoRA + LoRA+ run stopped after step 3 and resumed from its checkpoint ends bitwise where the uninterrupted
    /// run does; the checkpoint carries both settings.
    func testDoRAWithLoRAPlusResumesBitwise() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-dora-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try CheckpointTests.synthModel(dir: dir, seed: 3)
        let lines = (0..<24).map { i in "{\"text\": \"Veloria note \(i): the moon Kest rises \(i % 5) hours after Pell.\"}" }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        var cfg = CheckpointTests.config()
        cfg.lora.dropout = 0
        cfg.lora.useDoRA = true
        cfg.optimizer.loraPlusRatio = 4
        let data = try TrainingData(path: dir + "/train.jsonl", tokenizer: try XCTUnwrap(FixtureTokenizers.smollm),
                                    options: cfg.datasetOptions)
        let full = try LoRATrainer(model: model, config: cfg)
        try full.train(data)
        let first = try LoRATrainer(model: model, config: cfg)
        first.checkpointStore = try CheckpointStore(folder: dir + "/ckpt", keep: 2)
        _ = try first.train(data) { e in
            if case .step(let m) = e, m.step == 3 { first.stopRequest.request(reason: "test") }
            return .proceed
        }
        var warnings: [String] = []
        let ckpt = try XCTUnwrap(try CheckpointStore.latest(in: dir + "/ckpt", warnings: &warnings))
        XCTAssertTrue(ckpt.header.config.lora.useDoRA)
        XCTAssertEqual(ckpt.header.config.optimizer.loraPlusRatio, 4)
        let second = try LoRATrainer(model: model, config: ckpt.header.config)
        try second.restore(from: ckpt, data: data.train)
        try second.train(data)
        XCTAssertEqual(second.parameters.values, full.parameters.values)
        let fresh = try LoRATrainer(model: model, config: cfg).parameters
        let m = try XCTUnwrap(fresh.slots.first?.magnitudeOffset)
        XCTAssertNotEqual(full.parameters.values[m], fresh.values[m], "the magnitudes trained")
    }
}

extension LlamaConfig {
    /// Shapes only (no weights): 2 layers, dim 32, ffn 48.
    static var tinyForLoRAPlus: LlamaConfig {
        LlamaConfig(blockCount: 2, embeddingLength: 32, feedForwardLength: 48, headCount: 4, headCountKV: 2, vocabSize: 40,
                    contextLength: 64, ropeFreqBase: 10000, rmsNormEps: 1e-5, tiedEmbeddings: false)
    }
}
