import Foundation
import XCTest
@testable import LoRAKit

/// The memory plan against the bytes a real `LlamaGraph` allocates, exact parameter counts, the
/// full fine-tuning comparison and the footprint read from a GGUF header.
final class MemoryBudgetTests: XCTestCase {
    /// Every buffer group of a real graph (SmolLM2, 2-thread pool) equals the plan, over ragged shapes,
    /// training and inference, checkpointing on and off, dropout, attention-only and all-linear.
    func testPlanEqualsAllocatedBytesSmolLM2() throws {
        let w = try GoldenFixture.smolLM2()
        let pool = ThreadPool(threads: 2)
        let cases: [(B: Int, S: Int, r: Int, targets: [LoRATarget], training: Bool, ckpt: Bool, dropout: Float)] = [
            (1, 37, 4, [.q_proj, .v_proj], true, false, 0),
            (3, 19, 8, LoRATarget.allCases, true, true, 0.1),
            (2, 64, 16, [.q_proj, .k_proj, .v_proj, .o_proj], true, false, 0.05),
            (2, 29, 5, LoRATarget.allCases, false, false, 0),
        ]
        for c in cases {
            let lora = try LoRAParameters(config: LoRAConfig(rank: c.r, dropout: c.dropout, targets: c.targets, seed: 1), model: w.config)
            let g = LlamaGraph(weights: w, lora: lora, batch: c.B, sequence: c.S, training: c.training, checkpointing: c.ckpt, pool: pool)
            let plan = LlamaGraph.plan(config: w.config, lora: lora.config, loraCount: lora.count, batch: c.B, sequence: c.S,
                                       training: c.training, checkpointing: c.ckpt, threads: pool.threads)
            XCTAssertEqual(plan, g.allocatedPlan, "\(c)")
            XCTAssertEqual(MemoryBudget.trainableCount(lora: lora.config, model: w.config), lora.count)
        }
    }

    /// On a tiny random GQA model with F32 weights (no dequantization panels) everything else matches too,
    /// and the plan's dequantization term is an upper bound.
    func testPlanEqualsAllocatedBytesTinyModel() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-mem-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try LoRAGradientCheckTests.tinyModel(dir: dir)
        for threads in [1, 3] {
            let pool = ThreadPool(threads: threads)
            for (B, S, ckpt) in [(1, 5, false), (3, 7, true), (2, 33, false)] {
                let lora = try LoRAParameters(config: LoRAConfig(rank: 3, targets: LoRATarget.allCases), model: w.config)
                let g = LlamaGraph(weights: w, lora: lora, batch: B, sequence: S, training: true, checkpointing: ckpt, pool: pool)
                var plan = LlamaGraph.plan(config: w.config, lora: lora.config, loraCount: lora.count, batch: B, sequence: S,
                                           training: true, checkpointing: ckpt, threads: pool.threads)
                let real = g.allocatedPlan
                XCTAssertGreaterThanOrEqual(plan.dequantScratch, real.dequantScratch)
                plan.dequantScratch = real.dequantScratch
                XCTAssertEqual(plan, real, "B=\(B) S=\(S) checkpointing=\(ckpt) threads=\(threads)")
            }
        }
    }

    /// Llama-3.1-8B with r=16: exact GQA counts (a naive count gives 16,777,216 and 45,088,768), and
    /// full fine-tuning with Adam at seq 2048 needs more than 128 GB.
    func testLlama31PresetCountsAndFullFineTune() throws {
        let c = ModelPreset.llama31_8b.config
        let attn = LoRAConfig(rank: 16, targets: [.q_proj, .k_proj, .v_proj, .o_proj])
        let all = LoRAConfig(rank: 16, targets: LoRATarget.allCases)
        XCTAssertEqual(MemoryBudget.trainableCount(lora: attn, model: c), 13_631_488)
        XCTAssertEqual(MemoryBudget.trainableCount(lora: all, model: c), 41_943_040)
        let fp = ModelFootprint.preset(config: c, name: "llama-3.1-8b", quantization: .q4_0)
        var cfg = TrainingConfig(lora: all, batchSize: 1, sequenceLength: 2048, checkpointing: true)
        cfg.threads = 8
        let b = MemoryBudget.estimate(model: fp, config: cfg)
        XCTAssertEqual(b.trainableParameters, 41_943_040)
        XCTAssertEqual(b.baseParameters, 8_030_261_248)
        XCTAssertEqual(b.fullFineTune.fp32StateBytes, 16 * 8_030_261_248)
        XCTAssertGreaterThan(b.fullFineTune.fp32TotalBytes, 128_000_000_000)
        XCTAssertGreaterThan(b.fullFineTune.mixedTotalBytes, 128_000_000_000)
        XCTAssertGreaterThan(b.fullFineTuneRatio, 10)
        // Q4_0: 18 bytes per 32 weights; the matrices are all but the norms.
        let q = b.terms.first { $0.key == "weights.q4_0" }!.bytes
        let matrixParams = c.parameterCount - (2 * c.blockCount + 1) * c.embeddingLength
        XCTAssertEqual(q, matrixParams / 32 * 18)
        // AdamW holds two fp32 moments per trainable parameter; LoRA grads one.
        XCTAssertEqual(b.terms.first { $0.key == "lora.adamw" }!.bytes, 8 * 41_943_040)
        XCTAssertEqual(b.terms.first { $0.key == "lora.grads" }!.bytes, 4 * 41_943_040)
        // The trainer's ordered sum of micro-batch gradients (GradientReducer) is one more fp32 copy.
        XCTAssertEqual(b.terms.first { $0.key == "lora.gradsum" }!.bytes, 4 * 41_943_040)
        // Checkpointing keeps one layer's activations instead of 32.
        var off = cfg; off.checkpointing = false
        let bOff = MemoryBudget.estimate(model: fp, config: off)
        let keptOn = b.terms.first { $0.key == "act.kept" }!.bytes, keptOff = bOff.terms.first { $0.key == "act.kept" }!.bytes
        XCTAssertEqual(keptOff, 32 * keptOn)
        XCTAssertGreaterThan(bOff.peakBytes, b.peakBytes)
    }

    /// The GGUF footprint's tensors plus header add up to the file; the config is the file's.
    func testFootprintFromGGUFHeader() throws {
        let path = try GoldenFixture.smolLM2Path()
        let fp = try ModelFootprint.read(path: path)
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        XCTAssertEqual(fp.weightBytes + fp.metadataBytes, size)
        XCTAssertEqual(fp.config, ModelPreset.smollm2_135m.config)
        XCTAssertEqual(fp.quantization, "Q4_1")
        XCTAssertEqual(fp.matrixRows.count, 1 + 7 * 30)   // tied embeddings: one [V, C] matrix
        XCTAssertFalse(fp.quantizationSelectable)
        // The preset's estimate of the same file is close (metadata bytes per token is a measured average).
        let pre = ModelFootprint.preset(config: fp.config, name: "smollm2", quantization: .q4_1)
        XCTAssertEqual(Double(pre.weightBytes + pre.metadataBytes), Double(size), accuracy: 0.35 * Double(size))
    }

    /// The bf16 path's packed LM head and the NUMA node groups' partial dX are in the budget.
    func testBF16HeadAndNodeGroupPartialsAreCounted() throws {
        let fp = ModelFootprint.preset(config: ModelPreset.smollm2_135m.config, name: "smollm2-135m", quantization: .q8_0)
        var cfg = TrainingConfig(lora: LoRAConfig(rank: 8), batchSize: 2, sequenceLength: 128, threads: 2)
        let fp32 = MemoryBudget.estimate(model: fp, config: cfg, rowGroups: 1)
        XCTAssertNil(fp32.terms.first { $0.key == "scratch.bf16head" })
        XCTAssertNil(fp32.terms.first { $0.key == "scratch.numa" })
        cfg.precision = .bf16
        let bf16 = MemoryBudget.estimate(model: fp, config: cfg, rowGroups: 1)
        let c = fp.config
        let head = try XCTUnwrap(bf16.terms.first { $0.key == "scratch.bf16head" }?.bytes)
        XCTAssertEqual(head, LlamaGraph.bf16HeadBytes(config: c, training: true, precision: .bf16))
        XCTAssertGreaterThanOrEqual(head, 2 * c.vocabSize * c.embeddingLength)     // 2 bytes per weight at least
        cfg.checkpointing = true                 // least memory: the head is packed per chunk instead
        XCTAssertNil(MemoryBudget.estimate(model: fp, config: cfg, rowGroups: 1).terms.first { $0.key == "scratch.bf16head" })
        cfg.checkpointing = false
        let grouped = MemoryBudget.estimate(model: fp, config: cfg, rowGroups: 2)
        let partial = try XCTUnwrap(grouped.terms.first { $0.key == "scratch.numa" }?.bytes)
        XCTAssertEqual(partial, 4 * 2 * 128 * max(c.embeddingLength, c.feedForwardLength))
    }

    /// Sections add up, the report names every term and the JSON round-trips.
    func testReportAndJSON() throws {
        let fp = ModelFootprint.preset(config: ModelPreset.smollm2_135m.config, name: "smollm2-135m", quantization: .q8_0)
        let cfg = TrainingConfig(lora: LoRAConfig(rank: 8, targets: LoRATarget.allCases), batchSize: 2, sequenceLength: 128, threads: 2)
        let b = MemoryBudget.estimate(model: fp, config: cfg, dataBytes: 50_000)
        let sum = MemoryTerm.Section.allCases.reduce(0) { $0 + b.bytes(in: $1) }
        XCTAssertEqual(sum, b.steadyBytes)
        let pf = 4 * b.trainableParameters
        XCTAssertEqual(b.terms.first { $0.phase == .save }?.bytes, pf)        // one copy; tensors streamed
        XCTAssertEqual(b.terms.first { $0.phase == .checkpoint }?.bytes, 2 << 20)   // streamed from the live buffers
        XCTAssertEqual(b.peakBytes, b.steadyBytes + pf)           // the adapter save is the larger transient
        var resumed = MemoryBudget.estimate(model: fp, config: cfg, dataBytes: 50_000, resuming: true)
        XCTAssertEqual(resumed.steadyBytes - b.steadyBytes - 3 * pf, resumed.terms.first { $0.key == "runtime.heap" }!.bytes
                       - b.terms.first { $0.key == "runtime.heap" }!.bytes)
        resumed = MemoryBudget.estimate(model: fp, config: cfg, checkpoints: false)
        XCTAssertNil(resumed.terms.first { $0.phase == .checkpoint })
        let text = b.report()
        for t in b.terms where t.bytes > 0 { XCTAssertTrue(text.contains(t.label), t.label) }
        XCTAssertTrue(text.contains("predicted peak RSS"))
        XCTAssertTrue(text.contains("full fine-tuning with Adam"))
        XCTAssertTrue(text.contains("all-linear"))
        for line in text.split(separator: "\n") { XCTAssertLessThanOrEqual(line.count, 120, String(line)) }
        let json = try b.json()
        let back = try JSONDecoder().decode(MemoryBudget.self, from: Data(json.utf8))
        XCTAssertEqual(back, b)
        let obj = try JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any]
        XCTAssertEqual(obj["peakBytes"] as? Int, b.peakBytes)
    }

    /// An HF folder's footprint: matrices as the loader quantizes them (byte for byte), norms fp32, and the
    /// safetensors mapped only while loading.
    func testFootprintFromHFFolderMatchesLoadedWeights() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-mem-hf-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (tied, q) in [(false, GGMLType.q4_1), (true, GGMLType.q8_0)] {
            try? FileManager.default.removeItem(atPath: dir)
            try TinyHFModel(seed: 5, tied: tied).write(to: dir, dtype: .bf16, tied: tied, shards: 2)
            let fp = try ModelFootprint.read(path: dir, quantizeTo: q)
            let w = try ModelWeights.load(path: dir, quantizeTo: q)
            let held = LlamaGraph.allMatrices(w).reduce(0) { $0 + $1.byteCount }
                + (tied ? 0 : w.tokenEmbedding.byteCount)   // allMatrices lists the LM head, not the embedding, when untied
            XCTAssertEqual(fp.weights.first { $0.type == "\(q)" }?.bytes, held)
            XCTAssertEqual(fp.weights.first { $0.type == "F32" }?.bytes, (2 * w.config.blockCount + 1) * w.config.embeddingLength * 4)
            let st = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".safetensors") }
                .reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: dir + "/" + $1)[.size] as! Int) }
            XCTAssertEqual(fp.loadOnlyBytes, st)
            XCTAssertTrue(fp.quantizationSelectable)
            let b = MemoryBudget.estimate(model: fp, config: TrainingConfig(lora: LoRAConfig(rank: 2), batchSize: 1, sequenceLength: 8, threads: 1))
            XCTAssertEqual(b.terms.first { $0.key == "weights.load" }?.phase, .load)
            XCTAssertEqual(b.peakBytes, max(b.steadyBytes + b.transientBytes, b.bytes(in: .model) + b.bytes(in: .runtime) + st))
            XCTAssertEqual(try ModelFootprint.loaded(w).weightBytes, fp.weightBytes)
        }
    }

    /// With a plan that spreads the weights over two nodes, each node gets its share of every matrix's
    /// rows; everything else is on the first group's node; the per-node totals add up to the peak.
    func testPerNodeTotals() throws {
        let topo = NUMATopology(nodes: [.init(id: 0, cpus: [0, 1, 2, 3], memoryBytes: 64 << 30, freeBytes: 60 << 30),
                                        .init(id: 1, cpus: [4, 5, 6, 7], memoryBytes: 64 << 30, freeBytes: 60 << 30)])
        let plan = try NUMAPlan.make(topology: topo, threads: 8, mode: .distribute)
        XCTAssertTrue(plan.placesWeights)
        let fp = ModelFootprint.preset(config: ModelPreset.llama32_1b.config, name: "llama-3.2-1b", quantization: .q8_0)
        let cfg = TrainingConfig(lora: LoRAConfig(rank: 8), batchSize: 1, sequenceLength: 256, threads: 8)
        let b = MemoryBudget.estimate(model: fp, config: cfg, numa: plan)
        let nodes = try XCTUnwrap(b.perNode)
        XCTAssertEqual(nodes.map(\.node), [0, 1])
        let matrices = fp.matrixRows.reduce(0) { $0 + $1.rows * $1.rowBytes }
        XCTAssertEqual(nodes.reduce(0) { $0 + $1.weightBytes }, matrices)
        XCTAssertEqual(Double(nodes[0].weightBytes), Double(matrices) / 2, accuracy: 0.01 * Double(matrices))
        XCTAssertEqual(nodes.reduce(0) { $0 + $1.total }, b.peakBytes)
        XCTAssertTrue(b.report().contains("on NUMA node 1"))
        XCTAssertNil(MemoryBudget.estimate(model: fp, config: cfg).perNode)
    }

    /// A trainer's budget is the estimate for its own config and pool, and counts its parameters exactly.
    func testTrainerBudget() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-mem-tr-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try LoRAGradientCheckTests.tinyModel(dir: dir)
        let cfg = TrainingConfig(lora: LoRAConfig(rank: 4, targets: [.q_proj, .k_proj, .down_proj]), batchSize: 2, sequenceLength: 16,
                                 threads: 3, checkpointing: true)
        let trainer = try LoRATrainer(model: w, config: cfg)
        let b = try trainer.budget(dataBytes: 1000)
        XCTAssertEqual(b.trainableParameters, trainer.parameters.count)
        XCTAssertEqual(b.run.threads, 3)
        XCTAssertTrue(b.run.checkpointing)
        XCTAssertEqual(b, try MemoryBudget.estimate(weights: w, config: cfg, threads: 3, dataBytes: 1000, checkpoints: false))
        XCTAssertNil(b.terms.first { $0.phase == .checkpoint })
        XCTAssertEqual(b.terms.first { $0.key == "runtime.data" }?.bytes, 1000 * MemoryBudget.Calibration.dataBytesPerFileByte)
    }
}
