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
        var settings = TrainingOverrides()                      // anything not set: TrainingConfig.runDefaults
        settings.rank = 8; settings.alpha = 16; settings.targets = [.q_proj, .v_proj]
        settings.learningRate = 1e-3; settings.steps = 2; settings.batchSize = 2; settings.sequenceLength = 64
        settings.evalBatches = 2
        let run = TrainingRun(TrainingRunRequest(model: path, data: data, output: out, overrides: settings))
        let result = try run.run { event in                     // budget, loading, steps, evaluations, saves
            switch event {
            case .training(.step(let m)): print("step \(m.step)/\(m.totalSteps) loss \(m.loss)")
            case .training(.eval(let e)): print("validation loss \(e.loss)")
            case .warning(let w): print("warning: \(w)")
            default: break
            }
            return .proceed          // or .stop: a checkpoint and the adapter are saved; running again resumes
        }
        print("adapter: \(result.adapterPath), validation loss \(result.summary.lastValidLoss ?? .nan)")
        // --- README example ends ---

        XCTAssertEqual(result.summary.steps, 2)
        XCTAssertTrue(result.finished)
        XCTAssertNotNil(result.summary.lastValidLoss)
        let model = try ModelWeights.load(path: path)
        let back = try LoRAParameters.loadPEFT(from: out + "/adapter", model: model.config)
        XCTAssertEqual(back.values.count, MemoryBudget.trainableCount(lora: result.config.lora, model: model.config))
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
