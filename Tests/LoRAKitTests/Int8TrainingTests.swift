import Foundation
import XCTest
@testable import LoRAKit

/// `ComputePrecision.int8`: training tracks fp32, repeats bitwise, the LM head stays out of int8, and the int8
/// products' scratch is planned, allocated once and counted by the memory budget.
final class Int8TrainingTests: XCTestCase {
    var dir = ""
    var model: ModelWeights!
    var data: TrainingData!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-int8-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        model = try CheckpointTests.synthModel(dir: dir, seed: 11)
        let lines = (0..<16).map { i in "{\"text\": \"Veloria log \(i): the ferry to Kest leaves at \(i % 7) and returns before the tide turns.\"}" }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        data = try TrainingData(path: dir + "/train.jsonl", tokenizer: tok, options: BF16TrainingTests.config(.fp32).datasetOptions)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func losses(_ p: ComputePrecision) throws -> [Double] {
        let t = try LoRATrainer(model: model, config: BF16TrainingTests.config(p))
        XCTAssertEqual(t.stepper.graph.precision, p)
        var out: [Double] = []
        try t.train(data) { e in
            if case .step(let m) = e { out.append(m.loss) }
            return .proceed
        }
        return out
    }

    func testInt8LossesTrackFP32() throws {
        let a = try losses(.fp32), b = try losses(.int8)
        XCTAssertEqual(b.count, 3)
        print("int8 training test losses: fp32 \(a), int8 \(b)")
        for (i, (x, y)) in zip(a, b).enumerated() {
            XCTAssertTrue(y.isFinite)
            XCTAssertLessThan(abs(x - y) / abs(x), 1e-2, "step \(i + 1): fp32 \(x), int8 \(y)")
        }
        XCTAssertNotEqual(a, b, "int8 gave the fp32 numbers bit for bit: did it run?")
        XCTAssertEqual(b, try losses(.int8), "same threads: bitwise the same")
    }

    func testHeadAndFallbacksLeaveInt8() throws {
        let g = LlamaGraph(weights: model, lora: nil, batch: 1, sequence: 8, training: false, checkpointing: false,
                           pool: ThreadPool(threads: 1))
        g.precision = .int8
        let other: ComputePrecision = ComputePrecision.bf16IsNative ? .bf16 : .fp32
        XCTAssertEqual(g.productPrecision(g.head), other)
        let q = model.layers[0].matrix(.q_proj)
        XCTAssertEqual(g.productPrecision(q), .int8)
        XCTAssertEqual(g.productPrecision(q, summed: 40), other, "backward-data over an out that is not a multiple of 32")
        g.precision = .fp32
        XCTAssertEqual(g.productPrecision(q), .fp32)
    }

    func testInt8ScratchIsPlannedAndBudgeted() throws {
        let lora = try LoRAParameters(config: BF16TrainingTests.config(.fp32).lora, model: model.config)
        let pool = ThreadPool(threads: 2)
        let g = LlamaGraph(weights: model, lora: lora, batch: 2, sequence: 8, training: true, checkpointing: false, pool: pool)
        g.precision = .int8
        let plan = LlamaGraph.plan(config: model.config, lora: lora.config, loraCount: lora.count, batch: 2, sequence: 8,
                                   training: true, checkpointing: false, threads: 2, precision: .int8)
        XCTAssertGreaterThan(plan.int8Scratch, 0)
        XCTAssertEqual(g.allocatedPlan.int8Scratch, plan.int8Scratch)
        XCTAssertEqual(g.allocatedPlan.total, plan.total - plan.dequantScratch + g.allocatedPlan.dequantScratch)
        g.precision = .fp32
        XCTAssertEqual(g.allocatedPlan.int8Scratch, 0)

        let fp = ModelFootprint.preset(config: ModelPreset.smollm2_135m.config, name: "smollm2-135m", quantization: .q4_1)
        var cfg = TrainingConfig(lora: LoRAConfig(rank: 8), batchSize: 2, sequenceLength: 128, threads: 2)
        XCTAssertNil(MemoryBudget.estimate(model: fp, config: cfg, rowGroups: 1).terms.first { $0.key == "scratch.int8" })
        cfg.precision = .int8
        let term = try XCTUnwrap(MemoryBudget.estimate(model: fp, config: cfg, rowGroups: 1).terms.first { $0.key == "scratch.int8" })
        XCTAssertEqual(term.bytes, LlamaGraph.int8ScratchBytes(config: fp.config, rows: 256, threads: 2, precision: .int8))
        XCTAssertGreaterThan(term.bytes, 256 * fp.config.feedForwardLength)   // the int8 left operand at least
    }
}
