import Foundation
import XCTest
@testable import LoRAKit

/// Grid-exact quant-aware LoRA on Q4_K/Q5_K bases: training's rounding is the merge's (random rows, never zeros),
/// the corrected forward is the product with the dequantized W0 + Ĉ, the input gradient agrees with finite
/// differences, the saved adapter computes the trained model and merges bit for bit into the grid, the setting's
/// validation, and exact resume.
final class QuantGridLoRATests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-grid-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A 2-layer synthetic Llama (C = 256, FFN 512) whose projections are `type` (the synthetic writer has no
    /// K-quants: a zero adapter merged as `type` writes them) and whose embeddings are Q8_0.
    func kModel(_ type: GGMLType = .q4_K, vocab: Int = 64) throws -> ModelWeights {
        var c = ModelPreset.llama32_1b.config
        c.blockCount = 2; c.embeddingLength = 256; c.feedForwardLength = 512; c.headCount = 4; c.headCountKV = 2
        c.vocabSize = vocab; c.contextLength = 64
        let src = dir + "/src-\(vocab).gguf", out = dir + "/m-\(type)-\(vocab).gguf"
        if !FileManager.default.fileExists(atPath: src) {
            _ = try SynthModel.write(SynthOptions(config: c, type: .q8_0, seed: 7, weightStd: 0.05), to: src)
        }
        let m = try ModelWeights.load(path: src)
        let zero = try LoRAParameters(config: LoRAConfig(rank: 1, alpha: 1, targets: LoRATarget.allCases), model: m.config)
        _ = try LoRAMerge.writeGGUF(model: m, adapter: zero, to: out, type: .type(type), pool: ThreadPool(threads: 2))
        return try ModelWeights.load(path: out)
    }

    /// Quant-aware grid factors with random B large enough that the change crosses several grid steps.
    func gridParams(_ m: ModelWeights, targets: [LoRATarget] = LoRATarget.allCases, bScale: Float = 0.05) throws -> LoRAParameters {
        var cfg = LoRAConfig(rank: 3, alpha: 6, targets: targets, seed: 3)
        cfg.quantAware = true
        cfg.quantGrid = true
        var p = try LoRAParameters(config: cfg, model: m.config)
        let noise = SplitMix64.uniformSymmetric(seed: 42, count: p.count)
        for s in p.slots { for j in 0..<(s.outFeatures * 3) { p.values[s.bOffset + j] = noise[s.bOffset + j] * bScale } }
        return p
    }

    func batch() -> (tokens: [Int32], targets: [Int32]) {
        ((0..<14).map { Int32(($0 * 7 + 3) % 64) }, (0..<14).map { Int32(($0 * 11 + 5) % 64) })
    }

    /// Training's rounding (`QuantGridLoRA.Slot.rounded`) equals what the in-place merge writes, on random rows.
    func testRoundingIsTheMergesRounding() throws {
        for type in [GGMLType.q4_K, .q5_K] {
            let rows = 5, cols = 512, ng = cols / 32
            let w = SplitMix64.uniformSymmetric(seed: 11, count: rows * cols).enumerated().map { i, v in v * 0.1 + Float(i % 7) * 0.003 }
            let W0 = try QuantizedMatrix.quantize(w, rows: rows, cols: cols, as: type)
            let slot = LoRASlot(layer: 0, target: .down_proj, outFeatures: rows, inFeatures: cols, aOffset: 0, bOffset: 0)
            let grid = QuantGridLoRA.Slot(slot: slot, matrix: W0)
            XCTAssertTrue(grid.mins.contains { $0 > 0 } && grid.dmin.allSatisfy { $0 > 0 })
            // Changes from a fraction of a step to beyond the grid (clamped at 0 and 63).
            let C = SplitMix64.uniformSymmetric(seed: 12, count: rows * ng).enumerated().map { i, v in
                v * grid.dmin[(i / ng) * (ng / 8) + (i % ng) / 8] * [0.4, 3, 80][i % 3]
            }
            let R = grid.rounded(C)
            XCTAssertEqual(grid.rounded(R), R, "a change on the grid rounds to itself")
            XCTAssertTrue(zip(R, C).contains { $0 != $1 })
            let merged = try XCTUnwrap(QuantOffsetMerge.merge(W0, delta: C, onGrid: true))
            XCTAssertEqual(merged.type, type)
            let b = W0.dequantized(), a = merged.dequantized(), scale = w.map(abs).max()!
            var worst: Float = 0
            for o in 0..<rows { for i in 0..<cols { worst = max(worst, abs(a[o * cols + i] - b[o * cols + i] - R[o * ng + i / 32])) } }
            XCTAssertLessThanOrEqual(worst / scale, 1e-6, "\(type)")
            // Only the packed mins changed: d, dmin and every code are the base's.
            let bs = type.blockBytes
            W0.withUnsafeBytes { p in
                merged.withUnsafeBytes { q in
                    for blk in 0..<(rows * cols / 256) {
                        let x = p + blk * bs, y = q + blk * bs
                        XCTAssertEqual(memcmp(x, y, 4), 0)
                        XCTAssertEqual(memcmp(x + 16, y + 16, bs - 16), 0)
                        for j in 0..<8 {
                            XCTAssertEqual(QuantOffsetMerge.scaleMin(j, UnsafeMutableRawPointer(mutating: x + 4)).0,
                                           QuantOffsetMerge.scaleMin(j, UnsafeMutableRawPointer(mutating: y + 4)).0)
                        }
                    }
                }
            }
            // The merge of the rounded change itself is the same file.
            let again = try XCTUnwrap(QuantOffsetMerge.merge(W0, delta: R, onGrid: true))
            XCTAssertEqual(again.dequantized(), a)
            print("grid rounding \(type): worst |merged − W0 − Ĉ| / max|W| = \(worst / scale)")
        }
    }

    /// The training graph with the corrections computes the model whose matrices are W0 + Ĉ: the same loss as the saved
    /// (rounded-change) adapter on a plain graph and as the merged file with no adapter; the merged matrices are the
    /// dequantized W0 plus the saved adapter's ΔW.
    func testCorrectedForwardIsTheMergedModel() throws {
        for type in [GGMLType.q4_K, .q5_K] {
            let m = try kModel(type)
            let p = try gridParams(m)
            let (tokens, targets) = batch()
            let st = LoRAStepper(weights: m, parameters: p, batch: 2, sequence: 7, checkpointing: false, optimizer: AdamWConfig(),
                                 pool: ThreadPool(threads: 2))
            let grid = try XCTUnwrap(st.graph.quantGrid)
            XCTAssertEqual(grid.slots.count, p.slots.count)
            XCTAssertGreaterThan(grid.slots.map { $0.correction.array().map(abs).max()! }.max()!, 0)
            let trained = st.evaluate(tokens: tokens, targets: targets).mean

            let saved = try QuantGridLoRA.savedForm(p, grid: grid, model: m.config)
            try saved.savePEFT(to: dir + "/ad-\(type)", model: m.config, baseModelName: "x")
            let loaded = try LoRAParameters.loadPEFT(from: dir + "/ad-\(type)", model: m.config)
            XCTAssertTrue(loaded.config.quantAware && loaded.config.quantGrid)
            XCTAssertEqual(loaded.config.scale, 1)
            XCTAssertEqual(loaded.values, saved.values)
            let plain = LlamaGraph(weights: m, lora: loaded, batch: 2, sequence: 7, training: false, checkpointing: false,
                                   pool: ThreadPool(threads: 2))
            plain.setBatch(tokens: tokens, targets: targets)
            let unmerged = plain.run(backward: false, gradScale: 0).mean

            let reports = try LoRAMerge.writeGGUF(model: m, adapter: loaded, to: dir + "/merged-\(type).gguf", type: .same,
                                                  pool: ThreadPool(threads: 2))
            XCTAssertTrue(reports.allSatisfy { $0.offsets && $0.type == type.description })
            XCTAssertEqual(try XCTUnwrap(LoRAMerge.overallSurvival(reports)), 1, accuracy: 1e-5)
            XCTAssertEqual(try LoRAMerge.autoType(base: m.layers[0].q, adapter: loaded, slot: loaded.slots[0], pool: ThreadPool(threads: 2)), type)
            let mm = try ModelWeights.load(path: dir + "/merged-\(type).gguf")
            let base = LlamaGraph(weights: mm, lora: nil, batch: 2, sequence: 7, training: false, checkpointing: false, pool: ThreadPool(threads: 2))
            base.setBatch(tokens: tokens, targets: targets)
            let merged = base.run(backward: false, gradScale: 0).mean
            print("grid \(type): loss trained \(trained) unmerged \(unmerged) merged \(merged)")
            XCTAssertEqual(unmerged, trained, accuracy: 1e-5 * abs(trained))
            XCTAssertEqual(merged, trained, accuracy: 1e-5 * abs(trained))

            // Matrix by matrix: merged = W0 + s·B·A of the saved adapter (≤ 1e-6 relative to the largest weight).
            var worst: Float = 0
            for s in loaded.slots {
                let W0 = m.layers[s.layer].matrix(s.target).dequantized(), Wm = mm.layers[s.layer].matrix(s.target).dequantized()
                let C = QuantAwareLoRA.groupDelta(loaded, slot: s), ng = s.inFeatures / 32, top = W0.map(abs).max()!
                for o in 0..<s.outFeatures {
                    for i in 0..<s.inFeatures { worst = max(worst, abs(Wm[o * s.inFeatures + i] - W0[o * s.inFeatures + i] - C[o * ng + i / 32]) / top) }
                }
            }
            XCTAssertLessThanOrEqual(worst, 1e-6)
            // Calibration serves the refit, which this adapter does not need.
            XCTAssertThrowsError(try MergeCalibration.measure(model: m, adapter: loaded, sequences: [tokens], source: "x", pool: ThreadPool(threads: 2))) {
                XCTAssertEqual($0 as? MergeError, .calibrationWithQuantGrid)
            }
            print("grid \(type): worst |merged − (W0 + ΔW saved)| / max|W0| = \(worst)")
        }
    }

    /// The correction's backward is its forward's adjoint, and the factors' gradients (at fixed corrections: the
    /// straight-through estimator) agree with finite differences through layers whose dx carries the correction.
    func testGradientsMatchFiniteDifferences() throws {
        let m = try kModel()
        let p = try gridParams(m)
        let g = LlamaGraph(weights: m, lora: p, batch: 2, sequence: 7, training: true, checkpointing: false, pool: ThreadPool(threads: 2))
        let grid = QuantGridLoRA(weights: m, parameters: p, rows: 14)
        g.quantGrid = grid
        grid.refresh(g.params.ptr)
        // Adjoint: ⟨forward(x), dy⟩ = ⟨x, backward(dy)⟩.
        let e = try XCTUnwrap(grid.slot(1, .down_proj))
        let x = SplitMix64.uniformSymmetric(seed: 1, count: 14 * 512), dy = SplitMix64.uniformSymmetric(seed: 2, count: 14 * 256)
        var y = [Float](repeating: 0, count: 14 * 256), dx = [Float](repeating: 0, count: 14 * 512)
        grid.forward(e, x: x, y: &y, rows: 14, pool: nil)
        grid.backward(e, dy: dy, dx: &dx, rows: 14, pool: nil)
        let lhs = zip(y, dy).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }, rhs = zip(x, dx).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        XCTAssertEqual(lhs, rhs, accuracy: 1e-4 * max(abs(lhs), 1))
        XCTAssertGreaterThan(abs(lhs), 1e-3)

        let (tokens, targets) = batch()
        g.setBatch(tokens: tokens, targets: targets)
        g.grads.zero()
        _ = g.run(backward: true, gradScale: 1 / 14)
        let analytic = g.grads.array()
        func loss() -> Double { g.run(backward: false, gradScale: 0).mean }
        var worst = 0.0
        for s in p.slots where s.layer == 0 {
            for i in [s.bOffset, s.bOffset + 5, s.bOffset + 3 * s.outFeatures - 1] {
                let eps: Float = 1e-2, orig = g.params.ptr[i]
                g.params.ptr[i] = orig + eps
                let lp = loss()
                g.params.ptr[i] = orig - eps
                let lm = loss()
                g.params.ptr[i] = orig
                let fd = (lp - lm) / Double(2 * eps), an = Double(analytic[i])
                let err = abs(fd - an) / max(abs(fd), 1e-3)
                worst = max(worst, err)
                XCTAssertLessThan(err, 2e-2, "\(s.layer).\(s.target) at \(i): fd \(fd) analytic \(an)")
            }
        }
        print("grid gradients vs finite differences: worst relative error \(worst)")
    }

    func testSettingValidation() throws {
        let m = try kModel()
        var cfg = LoRAConfig(rank: 2, targets: [.q_proj])
        cfg.quantGrid = true
        XCTAssertThrowsError(try cfg.validate(for: m.config)) { XCTAssertTrue("\($0)".contains("needs quant-aware LoRA (quantAware)"), "\($0)") }
        cfg.quantAware = true
        cfg.dropout = 0.1
        XCTAssertThrowsError(try cfg.validate(for: m.config)) { XCTAssertTrue("\($0)".contains("no dropout"), "\($0)") }
        cfg.dropout = 0
        XCTAssertNoThrow(try cfg.validate(for: m.config))
        // A base without Q4_K/Q5_K adapted matrices has no grid.
        var tc = TrainingConfig(lora: cfg, learningRate: 1e-3, steps: 1, batchSize: 1, sequenceLength: 8, threads: 2)
        tc.saveInterval = 0
        let q8 = try ModelWeights.load(path: dir + "/src-64.gguf")
        XCTAssertThrowsError(try LoRATrainer(model: q8, config: tc)) { XCTAssertTrue("\($0)".contains("none of the adapted matrices is Q4_K or Q5_K"), "\($0)") }
        XCTAssertNoThrow(try LoRATrainer(model: m, config: tc))
        // Factors trained without the grid do not silently continue a grid run (nor the reverse).
        var plainCfg = cfg
        plainCfg.quantGrid = false
        let latent = try LoRAParameters(config: plainCfg, model: m.config)
        XCTAssertThrowsError(try LoRATrainer(model: m, config: tc, adapter: latent)) { XCTAssertTrue("\($0)".contains("does not match"), "\($0)") }
        // Strict config file key and the command-line alias; resume-defining.
        try #"{"lora": {"quantAware": true, "quantGrid": true}}"#.write(toFile: dir + "/c.json", atomically: false, encoding: .utf8)
        let c = try TrainingConfig.resolve(base: TrainingConfig.runDefaults, file: dir + "/c.json", overrides: TrainingOverrides())
        XCTAssertTrue(c.lora.quantGrid)
        try #"{"lora": {"quantGrid": 1}}"#.write(toFile: dir + "/bad.json", atomically: false, encoding: .utf8)
        XCTAssertThrowsError(try TrainingConfig.resolve(base: TrainingConfig.runDefaults, file: dir + "/bad.json", overrides: TrainingOverrides()))
        XCTAssertEqual(ConfigSchema.aliases["quant-grid"], "lora.quantGrid")
        var o = TrainingOverrides()
        o.quantGrid = true
        XCTAssertTrue(o.applied(to: TrainingConfig.runDefaults).lora.quantGrid)
        XCTAssertEqual(CheckpointHeader.flatten(c.resumeDefining)["lora.quantGrid"], "true")
        XCTAssertEqual(CheckpointHeader.flatten(TrainingConfig.runDefaults.resumeDefining)["lora.quantGrid"], "false")
        let old = try JSONDecoder().decode(LoRAConfig.self, from: Data(#"{"quantAware": true}"#.utf8))
        XCTAssertFalse(old.quantGrid)
    }

    /// A run stopped and resumed from its checkpoint (latent factors + moments; the corrections recomputed) ends with
    /// the uninterrupted run's factors and saved adapter.
    func testResumeIsExact() throws {
        let m = try kModel(vocab: 49152)
        let lines = (0..<24).map { i in "{\"text\": \"Veloria note \(i): the moon Kest rises \(i % 5) hours after Pell, and the tides follow.\"}" }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        var lc = LoRAConfig(rank: 2, alpha: 4, targets: [.q_proj, .down_proj], seed: 5)
        lc.quantAware = true
        lc.quantGrid = true
        var cfg = TrainingConfig(lora: lc, learningRate: 5e-2, warmupSteps: 1, steps: 5, batchSize: 2, sequenceLength: 16, seed: 9,
                                 threads: 2, saveInterval: 1)
        cfg.keepCheckpoints = 2
        let data = try TrainingData(path: dir + "/train.jsonl", tokenizer: try XCTUnwrap(FixtureTokenizers.smollm), options: cfg.datasetOptions)
        let full = try LoRATrainer(model: m, config: cfg)
        try full.train(data)
        let reference = full.parameters.values, savedRef = try full.adapterToSave()
        XCTAssertGreaterThan(full.stepper.graph.quantGrid!.slots.map { $0.correction.array().map(abs).max()! }.max()!, 0)
        XCTAssertEqual(savedRef.config.rank, 16)

        let first = try LoRATrainer(model: m, config: cfg)
        first.checkpointStore = try CheckpointStore(folder: dir + "/ckpt", keep: 2)
        try first.train(data) { e in
            if case .step(let s) = e, s.step == 2 { first.stopRequest.request(reason: "test") }
            return .proceed
        }
        var warnings: [String] = []
        let ckpt = try XCTUnwrap(try CheckpointStore.latest(in: dir + "/ckpt", warnings: &warnings))
        let second = try LoRATrainer(model: m, config: cfg)
        try second.restore(from: ckpt, data: data.train)
        try second.train(data)
        XCTAssertEqual(second.parameters.values, reference)
        XCTAssertEqual(try second.adapterToSave().values, savedRef.values)
    }
}
