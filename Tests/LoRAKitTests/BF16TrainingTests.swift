import Foundation
import XCTest
@testable import LoRAKit

/// `TrainingConfig.precision`: bf16 training tracks fp32 closely, a checkpoint resumes only with its own
/// precision, old configs decode as fp32, and the packed bf16 LM head is counted by the graph's plan.
final class BF16TrainingTests: XCTestCase {
    var dir = ""
    var model: ModelWeights!
    var data: TrainingData!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-bf16-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        model = try CheckpointTests.synthModel(dir: dir, seed: 11)
        let lines = (0..<16).map { i in "{\"text\": \"Veloria log \(i): the ferry to Kest leaves at \(i % 7) and returns before the tide turns.\"}" }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        data = try TrainingData(path: dir + "/train.jsonl", tokenizer: tok, options: Self.config(.fp32).datasetOptions)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    static func config(_ p: ComputePrecision, steps: Int = 3) -> TrainingConfig {
        var c = TrainingConfig(lora: LoRAConfig(rank: 4, alpha: 8, targets: [.q_proj, .v_proj, .down_proj], seed: 5),
                               learningRate: 5e-3, steps: steps, batchSize: 2, sequenceLength: 16, seed: 9, threads: 2)
        c.precision = p
        return c
    }

    private func losses(_ p: ComputePrecision) throws -> (losses: [Double], trainer: LoRATrainer) {
        let t = try LoRATrainer(model: model, config: Self.config(p))
        XCTAssertEqual(t.stepper.graph.precision, p)
        var out: [Double] = []
        try t.train(data) { e in
            if case .step(let m) = e { out.append(m.loss) }
            return .proceed
        }
        return (out, t)
    }

    func testBF16LossesTrackFP32() throws {
        let (a, ta) = try losses(.fp32)
        let (b, tb) = try losses(.bf16)
        XCTAssertEqual(a.count, 3)
        XCTAssertEqual(b.count, 3)
        print("bf16 training test losses: fp32 \(a), bf16 \(b)")
        for (i, (x, y)) in zip(a, b).enumerated() {
            XCTAssertTrue(x.isFinite && y.isFinite)
            XCTAssertLessThan(abs(x - y) / abs(x), 3e-3, "step \(i + 1): fp32 \(x), bf16 \(y)")
        }
        XCTAssertNotEqual(a, b, "bf16 gave the fp32 numbers bit for bit: did it run?")
        XCTAssertNotEqual(ta.parameters.values, tb.parameters.values)
        // Same thread count: bitwise the same again.
        let (b2, _) = try losses(.bf16)
        XCTAssertEqual(b, b2)
    }

    func testResumeAcrossPrecisionsIsRefused() throws {
        let t = try LoRATrainer(model: model, config: Self.config(.fp32))
        t.checkpointStore = try CheckpointStore(folder: dir + "/ckpt")
        try t.train(data) { e in if case .step(let m) = e, m.step == 2 { return .stop }; return .proceed }
        let ckpt = try TrainingCheckpoint.load(path: try XCTUnwrap(t.lastCheckpointPath))
        XCTAssertEqual(ckpt.header.config.precision, .fp32)

        let other = try LoRATrainer(model: model, config: Self.config(.bf16))
        XCTAssertThrowsError(try other.restore(from: ckpt, data: data.train)) { e in
            guard case CheckpointError.incompatible(_, let why) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(why.contains { $0.contains("precision") }, "\(why)")
        }
        // The same precision resumes.
        let same = try LoRATrainer(model: model, config: Self.config(.fp32))
        XCTAssertNoThrow(try same.restore(from: ckpt, data: data.train))
    }

    func testConfigDecodesPrecisionWithDefault() throws {
        let old = try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"batchSize": 3}"#.utf8))
        XCTAssertEqual(old.precision, .fp32)
        let bf = try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"precision": "bf16"}"#.utf8))
        XCTAssertEqual(bf.precision, .bf16)
        let round = try JSONDecoder().decode(TrainingConfig.self, from: try JSONEncoder().encode(bf))
        XCTAssertEqual(round, bf)
        XCTAssertThrowsError(try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"precision": "fp8"}"#.utf8)))
    }

    func testPackedHeadIsInThePlan() throws {
        let lora = try LoRAParameters(config: Self.config(.fp32).lora, model: model.config)
        let pool = ThreadPool(threads: 2)
        for training in [true, false] {
            let g = LlamaGraph(weights: model, lora: lora, batch: 2, sequence: 8, training: training, checkpointing: false, pool: pool)
            XCTAssertEqual(g.allocatedPlan.bf16Head, 0)
            g.precision = .bf16
            let plan = LlamaGraph.plan(config: model.config, lora: lora.config, loraCount: lora.count, batch: 2, sequence: 8,
                                       training: training, checkpointing: false, threads: 2, precision: .bf16)
            XCTAssertGreaterThan(plan.bf16Head, 0)
            XCTAssertEqual(g.allocatedPlan.bf16Head, plan.bf16Head, "training \(training)")
            XCTAssertEqual(g.bf16Head.count, training ? 2 : 1)
            // The bf16 products' scratch is planned and allocated once (not per call), and counted.
            XCTAssertGreaterThan(plan.bf16Scratch, 0)
            XCTAssertEqual(g.allocatedPlan.bf16Scratch, plan.bf16Scratch, "training \(training)")
            XCTAssertEqual(g.allocatedPlan.total, plan.total - plan.dequantScratch + g.allocatedPlan.dequantScratch)
            g.precision = .fp32
            XCTAssertEqual(g.allocatedPlan.bf16Head, 0)
            XCTAssertEqual(g.allocatedPlan.bf16Scratch, 0)
        }
        // Training with checkpointing asks for least memory: the head is packed per chunk, not kept.
        let g = LlamaGraph(weights: model, lora: lora, batch: 2, sequence: 8, training: true, checkpointing: true, pool: pool)
        g.precision = .bf16
        XCTAssertEqual(g.allocatedPlan.bf16Head, 0)
        XCTAssertEqual(LlamaGraph.plan(config: model.config, lora: lora.config, loraCount: lora.count, batch: 2, sequence: 8,
                                       training: true, checkpointing: true, threads: 2, precision: .bf16).bf16Head, 0)
    }
}
