import Foundation
import LoRAKit
import XCTest

/// The README's library example, compiled and run (with fewer steps) so it cannot rot.
final class LibraryExampleTests: XCTestCase {
    func testReadmeExample() throws {
        let path = try GoldenFixture.smolLM2Path()
        let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/data/veloria").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-lib-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }

        // --- README example begins ---
        let model = try ModelWeights.load(path: path)          // memory-mapped, stays quantized
        let tokenizer = try Tokenizer(modelPath: path)
        var config = TrainingConfig(lora: LoRAConfig(rank: 8, alpha: 16, targets: [.q_proj, .v_proj]),
                                    learningRate: 1e-3, steps: 2, batchSize: 2, sequenceLength: 64)
        config.evalBatches = 2
        let trainingData = try TrainingData(path: data, tokenizer: tokenizer, options: config.datasetOptions)
        let trainer = try LoRATrainer(model: model, config: config)
        let summary = try trainer.train(trainingData) { event in
            switch event {
            case .step(let m): print("step \(m.step)/\(m.totalSteps) loss \(m.loss)")
            case .eval(let e): print("validation loss \(e.loss)")
            }
            return .proceed                                     // or .stop: the factors keep the last step
        }
        try trainer.parameters.savePEFT(to: out + "/adapter", model: model.config, baseModelName: path)
        // --- README example ends ---

        XCTAssertEqual(summary.steps, 2)
        XCTAssertNotNil(summary.lastValidLoss)
        let back = try LoRAParameters.loadPEFT(from: out + "/adapter", model: model.config)
        XCTAssertEqual(back.values, trainer.parameters.values)
    }

    /// Two trainers over one model in one process do not interfere: each reproduces its solo run.
    func testTwoRunsInOneProcessAreIndependent() throws {
        let path = try GoldenFixture.smolLM2Path()
        let model = try GoldenFixture.smolLM2()
        let tokenizer = try Tokenizer(modelPath: path)
        let data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/data/veloria").path
        func config(_ seed: UInt64) -> TrainingConfig {
            TrainingConfig(lora: LoRAConfig(rank: 4, targets: [.v_proj], seed: seed), learningRate: 1e-3, steps: 2,
                           batchSize: 2, sequenceLength: 64, seed: seed, threads: 1, evalBatches: 1)
        }
        let d = try TrainingData(path: data, tokenizer: tokenizer, options: config(1).datasetOptions)
        let soloA = try LoRATrainer(model: model, config: config(1)); try soloA.train(d)
        let soloB = try LoRATrainer(model: model, config: config(2)); try soloB.train(d)
        let a = try LoRATrainer(model: model, config: config(1)), b = try LoRATrainer(model: model, config: config(2))
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { _ = try? a.train(d) }
        DispatchQueue.global().async(group: group) { _ = try? b.train(d) }
        group.wait()
        XCTAssertEqual(a.parameters.values, soloA.parameters.values)
        XCTAssertEqual(b.parameters.values, soloB.parameters.values)
        XCTAssertNotEqual(a.parameters.values, b.parameters.values)
    }
}
