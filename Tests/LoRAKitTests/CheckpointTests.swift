import Foundation
import XCTest
@testable import LoRAKit

/// Checkpoints in the library: exact resume (bitwise), cancellation, file damage, refusal of another
/// run's checkpoint, and the non-finite step guard. A tiny synthetic model keeps these fast.
final class CheckpointTests: XCTestCase {
    var dir = ""
    var model: ModelWeights!
    var data: TrainingData!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-ckpt-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        model = try Self.synthModel(dir: dir, seed: 3)
        let lines = (0..<24).map { i in "{\"text\": \"Veloria note \(i): the moon Kest rises \(i % 5) hours after Pell, and the tides follow.\"}" }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        data = try TrainingData(path: dir + "/train.jsonl", tokenizer: tok, options: Self.config().datasetOptions)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static func synthModel(dir: String, seed: UInt64, blocks: Int = 2) throws -> ModelWeights {
        var c = ModelPreset.llama32_1b.config
        c.blockCount = blocks; c.embeddingLength = 64; c.feedForwardLength = 96; c.headCount = 4; c.headCountKV = 2
        c.vocabSize = 49152; c.contextLength = 128
        let path = dir + "/m\(seed)-\(blocks).gguf"
        _ = try SynthModel.write(SynthOptions(config: c, type: .q8_0, seed: seed), to: path)
        return try ModelWeights.load(path: path)
    }

    static func config(steps: Int = 6, rank: Int = 4) -> TrainingConfig {
        var c = TrainingConfig(lora: LoRAConfig(rank: rank, alpha: 8, dropout: 0.1, targets: [.q_proj, .v_proj, .down_proj], seed: 5),
                               learningRate: 5e-3, warmupSteps: 2, steps: steps, batchSize: 2, sequenceLength: 16, seed: 9,
                               threads: 2, saveInterval: 1)
        c.keepCheckpoints = 2
        return c
    }

    func testStoppedAndResumedRunIsBitwiseIdentical() throws {
        let cfg = Self.config()
        let full = try LoRATrainer(model: model, config: cfg)
        try full.train(data)
        let reference = full.parameters.values

        // Stopped by the embedder's cancellation after step 3: a checkpoint of step 3 is saved.
        let first = try LoRATrainer(model: model, config: cfg)
        first.checkpointStore = try CheckpointStore(folder: dir + "/ckpt", keep: cfg.keepCheckpoints)
        let s1 = try first.train(data) { e in
            if case .step(let m) = e, m.step == 3 { first.stopRequest.request(reason: "test") }
            return .proceed
        }
        XCTAssertTrue(s1.stoppedEarly)
        XCTAssertEqual(first.step, 3)
        XCTAssertEqual(first.lastCheckpointPath, dir + "/ckpt/step-000003.lkckpt")
        XCTAssertEqual(first.checkpointStore!.list().map(\.step), [2, 3])   // keep = 2

        var warnings: [String] = []
        let ckpt = try XCTUnwrap(try CheckpointStore.latest(in: dir + "/ckpt", warnings: &warnings))
        XCTAssertEqual(ckpt.header.step, 3)
        XCTAssertEqual(ckpt.parameters, first.parameters.values)
        let second = try LoRATrainer(model: model, config: cfg)
        try second.restore(from: ckpt, data: data.train)
        let s2 = try second.train(data)
        XCTAssertEqual(s2.steps, 6)
        XCTAssertEqual(second.parameters.values, reference, "resumed factors differ from the uninterrupted run's")
        XCTAssertNotEqual(reference, try LoRATrainer(model: model, config: cfg).parameters.values)   // it did train

        // The observer's .stop leaves the same consistent state.
        let third = try LoRATrainer(model: model, config: cfg)
        third.checkpointStore = try CheckpointStore(folder: dir + "/ckpt3")
        try third.train(data) { e in if case .step(let m) = e, m.step == 2 { return .stop }; return .proceed }
        let c3 = try TrainingCheckpoint.load(path: try XCTUnwrap(third.lastCheckpointPath))
        let fourth = try LoRATrainer(model: model, config: cfg)
        try fourth.restore(from: c3, data: data.train)
        try fourth.train(data)
        XCTAssertEqual(fourth.parameters.values, reference)
    }

    /// The trainer streams checkpoints from its live buffers; the file must be byte for byte the
    /// encoding of the same state made in memory (and PEFT saves stream their tensors the same way).
    func testStreamedCheckpointEqualsEncodedState() throws {
        let cfg = Self.config(steps: 2)
        let t = try LoRATrainer(model: model, config: cfg)
        t.checkpointStore = try CheckpointStore(folder: dir + "/stream")
        try t.train(data)
        let path = try XCTUnwrap(t.lastCheckpointPath)
        let onDisk = try XCTUnwrap(FileManager.default.contents(atPath: path))
        let inMemory = try t.makeCheckpoint(totalSteps: 2, data: DataIdentity(data.train)).encoded()
        XCTAssertEqual(onDisk, inMemory)
        XCTAssertEqual(try TrainingCheckpoint(data: onDisk, path: path).parameters, t.parameters.values)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/stream").filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "temporary files left behind")
    }

    func testCheckpointFileDetectsDamage() throws {
        let t = try LoRATrainer(model: model, config: Self.config(steps: 2))
        t.checkpointStore = try CheckpointStore(folder: dir + "/c")
        try t.train(data)
        let path = try XCTUnwrap(t.lastCheckpointPath)
        let good = try XCTUnwrap(FileManager.default.contents(atPath: path))
        let c = try TrainingCheckpoint(data: good, path: path)
        XCTAssertEqual(try c.encoded(), good)
        XCTAssertEqual(c.header.step, 2)
        XCTAssertEqual(c.header.optimizerStep, 2)
        XCTAssertTrue(c.adamV.contains { $0 > 0 })

        var flipped = good
        flipped[good.count / 2] ^= 0x40
        XCTAssertThrowsError(try TrainingCheckpoint(data: flipped, path: "x.lkckpt")) {
            XCTAssertTrue("\($0)".contains("x.lkckpt") && "\($0)".contains("checksum"), "\($0)")
        }
        for cut in [0, 10, 23, good.count / 3, good.count - 1] {
            XCTAssertThrowsError(try TrainingCheckpoint(data: good.prefix(cut), path: "t.lkckpt")) {
                XCTAssertTrue("\($0)".contains("t.lkckpt is damaged"), "\($0)")
            }
        }
        // A damaged newest checkpoint falls back to the previous one with a warning.
        let store = t.checkpointStore!
        let newest = store.list().last!.path
        try flipped.write(to: URL(fileURLWithPath: newest))
        var warnings: [String] = []
        let back = try XCTUnwrap(try store.latest(warnings: &warnings))
        XCTAssertEqual(back.header.step, 1)
        XCTAssertEqual(warnings.count, 1)
        XCTAssertTrue(warnings[0].contains(newest), warnings[0])
        // A stale temporary file from an interrupted write is removed on open.
        FileManager.default.createFile(atPath: dir + "/c/.step-000009.lkckpt.tmp-123", contents: Data([1, 2]))
        _ = try CheckpointStore(folder: dir + "/c")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/c/.step-000009.lkckpt.tmp-123"))
    }

    func testCheckpointOfAnotherRunIsRefused() throws {
        let t = try LoRATrainer(model: model, config: Self.config(steps: 1))
        t.checkpointStore = try CheckpointStore(folder: dir + "/c")
        try t.train(data)
        let c = try TrainingCheckpoint.load(path: try XCTUnwrap(t.lastCheckpointPath))

        let otherRank = try LoRATrainer(model: model, config: Self.config(rank: 8))
        XCTAssertThrowsError(try otherRank.restore(from: c, data: data.train, path: "ck")) { e in
            let m = "\(e)"
            XCTAssertTrue(m.contains("ck belongs to a different run") && m.contains("lora.rank was 4, now 8"), m)
        }
        var lr = Self.config()
        lr.learningRate = 1e-3
        XCTAssertThrowsError(try LoRATrainer(model: model, config: lr).restore(from: c, data: data.train)) {
            XCTAssertTrue("\($0)".contains("learningRate"), "\($0)")
        }
        let otherModel = try Self.synthModel(dir: dir, seed: 3, blocks: 3)
        XCTAssertThrowsError(try LoRATrainer(model: otherModel, config: Self.config()).restore(from: c, data: data.train)) {
            XCTAssertTrue("\($0)".contains("made for the model"), "\($0)")
        }
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        try Data("{\"text\": \"something else entirely, long enough to train on for a step or two\"}".utf8)
            .write(to: URL(fileURLWithPath: dir + "/other.jsonl"))
        let other = try TrainingData(path: dir + "/other.jsonl", tokenizer: tok, options: Self.config().datasetOptions)
        XCTAssertThrowsError(try LoRATrainer(model: model, config: Self.config()).restore(from: c, data: other.train)) {
            XCTAssertTrue("\($0)".contains("training data differ"), "\($0)")
        }
        // Thread count, intervals and checkpointing may change.
        var relaxed = Self.config(steps: 1)
        relaxed.threads = 1; relaxed.evalInterval = 3; relaxed.saveInterval = 0; relaxed.checkpointing = true
        XCTAssertNoThrow(try LoRATrainer(model: model, config: relaxed).restore(from: c, data: data.train))
    }

    func testNonFiniteStepsAreSkippedCountedAndRecorded() throws {
        let t = try LoRATrainer(model: model, config: Self.config(steps: 4))
        t.poisonGradients = { $0 == 2 }
        let run = try RunDirectory(path: dir + "/run")
        try run.startMetrics()
        var after: [Int: [Float]] = [:]
        var metrics: [StepMetrics] = []
        let s = try t.train(data) { e in
            try? run.record(e)
            if case .step(let m) = e { after[m.step] = t.parameters.values; metrics.append(m) }
            return .proceed
        }
        run.close()
        XCTAssertEqual(s.skippedSteps, 1)
        XCTAssertEqual(metrics.map(\.skipped), [false, true, false, false])
        XCTAssertEqual(after[2], after[1], "a skipped step must not change the factors")
        XCTAssertNotEqual(after[3], after[2])
        XCTAssertTrue(t.parameters.values.allSatisfy(\.isFinite))
        XCTAssertEqual(t.stepper.optimizer.step, 3)
        let lines = try String(contentsOfFile: dir + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        XCTAssertTrue(lines[1].contains("\"skipped\":true") && lines[1].contains("\"gradNorm\":\"NaN\""), String(lines[1]))

        // Stop after K non-finite steps in a row, with a checkpoint of the last good state.
        var cfg = Self.config(steps: 6)
        cfg.nonFiniteLimit = 2
        let u = try LoRATrainer(model: model, config: cfg)
        u.checkpointStore = try CheckpointStore(folder: dir + "/nf")
        u.poisonGradients = { $0 >= 3 }
        XCTAssertThrowsError(try u.train(data)) { e in
            XCTAssertEqual(e as? TrainingError, .nonFinite(step: 4, count: 2))
            XCTAssertTrue("\(e)".contains("non-finite"), "\(e)")
        }
        let c = try TrainingCheckpoint.load(path: try XCTUnwrap(u.lastCheckpointPath))
        XCTAssertEqual(c.header.step, 4)
        XCTAssertEqual(c.header.skippedSteps, 2)
        XCTAssertEqual(c.header.optimizerStep, 2)
        XCTAssertTrue(c.parameters.allSatisfy(\.isFinite))
    }
}
