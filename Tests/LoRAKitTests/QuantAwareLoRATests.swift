import Foundation
import XCTest
@testable import LoRAKit

/// Quant-aware LoRA: A stays constant over 32-column groups through training (gradients checked against finite
/// differences along whole groups), its ΔW merges exactly into Q4_1/Q5_1 offsets (Q4_0/Q5_0 become Q4_1/Q5_1; Q4_K/Q5_K
/// refit their 6-bit mins), the merge's survival measure on constructed cases, and the setting's plumbing.
final class QuantAwareLoRATests: XCTestCase {
    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-qa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// A 2-layer synthetic Llama with 64-wide inputs (two groups per row) in `type`.
    func model(_ type: GGMLType, dir: String, std: Float = 0.05, dim: Int = 64) throws -> ModelWeights {
        let c = LlamaConfig(blockCount: 2, embeddingLength: dim, feedForwardLength: 2 * dim, headCount: 4, headCountKV: 2,
                            vocabSize: 50, contextLength: 64, ropeFreqBase: 10000, rmsNormEps: 1e-5, tiedEmbeddings: false)
        let path = dir + "/m-\(type).gguf"
        _ = try SynthModel.write(SynthOptions(config: c, type: type, seed: 5, weightStd: std), to: path)
        return try ModelWeights.load(path: path)
    }

    func params(_ m: ModelWeights, quantAware: Bool, bScale: Float = 0.3, rank: Int = 3) throws -> LoRAParameters {
        var cfg = LoRAConfig(rank: rank, alpha: Float(rank), targets: LoRATarget.allCases, seed: 3)
        cfg.quantAware = quantAware
        var p = try LoRAParameters(config: cfg, model: m.config)
        let noise = SplitMix64.uniformSymmetric(seed: 99, count: p.count)
        for s in p.slots { for j in 0..<(s.outFeatures * rank) { p.values[s.bOffset + j] = noise[s.bOffset + j] * bScale } }
        return p
    }

    func batch() -> (tokens: [Int32], targets: [Int32]) {
        ((0..<14).map { Int32(($0 * 7 + 3) % 50) }, (0..<14).map { Int32(($0 * 11 + 5) % 50) })
    }

    func testInitIsGroupConstantAndConfigNeedsWholeGroups() throws {
        let m = try model(.f32, dir: try tempDir())
        let p = try params(m, quantAware: true)
        XCTAssertEqual(QuantAwareLoRA.maxGroupDeviation(p), 0)
        XCTAssertGreaterThan(QuantAwareLoRA.maxGroupDeviation(try params(m, quantAware: false)), 0)
        var bad = m.config
        bad.embeddingLength = 48
        var cfg = LoRAConfig(targets: [.q_proj])
        cfg.quantAware = true
        XCTAssertThrowsError(try cfg.validate(for: bad)) { XCTAssertTrue("\($0)".contains("32-wide groups; q_proj has 48"), "\($0)") }
    }

    /// The projected gradient times the group width equals the loss's derivative along the whole group.
    func testGroupGradientMatchesFiniteDifferences() throws {
        let m = try model(.f32, dir: try tempDir())
        let p = try params(m, quantAware: true)
        let (tokens, targets) = batch()
        let g = LlamaGraph(weights: m, lora: p, batch: 2, sequence: 7, training: true, checkpointing: false, pool: ThreadPool(threads: 2))
        g.setBatch(tokens: tokens, targets: targets)
        g.grads.zero()
        _ = g.run(backward: true, gradScale: 1 / 14)
        QuantAwareLoRA.projectGradients(g.grads.ptr, slots: p.slots, rank: 3)
        let analytic = g.grads.array()
        func loss() -> Double { g.run(backward: false, gradScale: 0).mean }
        let G = QuantAwareLoRA.groupSize
        var worst = 0.0
        for s in p.slots {
            for start in [s.aOffset, s.aOffset + G, s.aOffset + 2 * s.inFeatures + G] {
                // Every entry of the group has the same projected gradient.
                for j in 1..<G { XCTAssertEqual(analytic[start + j], analytic[start]) }
                let eps: Float = 2e-3   // per entry: the whole group moves by 2e-3·√32 ≈ 1.1e-2
                let orig = (0..<G).map { g.params.ptr[start + $0] }
                for j in 0..<G { g.params.ptr[start + j] = orig[j] + eps }
                let lp = loss()
                for j in 0..<G { g.params.ptr[start + j] = orig[j] - eps }
                let lm = loss()
                for j in 0..<G { g.params.ptr[start + j] = orig[j] }
                let fd = (lp - lm) / Double(2 * eps)
                let an = Double(G) * Double(analytic[start])
                let err = abs(fd - an) / max(abs(fd), 1e-3)
                worst = max(worst, err)
                XCTAssertLessThan(err, 2e-2, "\(s.layer).\(s.target) at \(start): fd \(fd) analytic \(an)")
            }
        }
        print("quant-aware group gradient vs finite differences: worst relative error \(worst)")
    }

    func testAdamWKeepsAGroupConstant() throws {
        let m = try model(.q4_1, dir: try tempDir())
        let p = try params(m, quantAware: true)
        let (tokens, targets) = batch()
        var opt = AdamWConfig()
        opt.weightDecay = 0.1
        let st = LoRAStepper(weights: m, parameters: p, batch: 2, sequence: 7, checkpointing: false, optimizer: opt, pool: ThreadPool(threads: 2))
        for _ in 0..<4 {
            _ = st.accumulate(tokens: tokens, targets: targets, gradScale: 1 / 14)
            _ = st.applyUpdateIfFinite(learningRate: 1e-2, lossIsFinite: true)
        }
        var trained = p
        trained.values = st.values
        XCTAssertEqual(QuantAwareLoRA.maxGroupDeviation(trained), 0)
        let moved = zip(p.values, trained.values).map { abs($0 - $1) }.max() ?? 0
        XCTAssertGreaterThan(moved, 1e-3)
    }

    /// Random blocks of `type` [rows, 256] with a random group delta merged into the offsets.
    func offsetMerge(_ type: GGMLType, rows: Int = 6, deltaScale: Float) throws -> (base: [Float], merged: [Float], delta: [Float], q: QuantizedMatrix) {
        let cols = 256
        let w = SplitMix64.uniformSymmetric(seed: 7, count: rows * cols).map { $0 * 0.1 + 0.02 }
        let base = try QuantizedMatrix.quantize(w, rows: rows, cols: cols, as: type)
        let gd = SplitMix64.uniformSymmetric(seed: 8, count: rows * cols / 32).map { $0 * deltaScale }
        let q = try XCTUnwrap(QuantOffsetMerge.merge(base, delta: gd))
        XCTAssertEqual(q.type, QuantOffsetMerge.offsetType(for: type))
        return (base.dequantized(), q.dequantized(), gd, q)
    }

    func testOffsetMergeIsExactForQ4_1AndQ5_1UpToTheHalfOfM() throws {
        for type in [GGMLType.q4_1, .q5_1, .q4_0, .q5_0] {
            let (b, m, gd, q) = try offsetMerge(type, deltaScale: 0.003)
            var worst: Float = 0
            for i in b.indices {
                // The new m is rounded to fp16: an error of at most half its ulp (≤ 2^-11 relative, plus subnormal slack).
                let mNew = QuantOffsetMerge.half(q.storage.base + (i / 32) * q.type.blockBytes + 2)
                let err = abs(m[i] - (b[i] + gd[i / 32]))
                worst = max(worst, err)
                XCTAssertLessThanOrEqual(err, abs(mNew) * 0x1p-11 + 1e-7, "\(type) element \(i)")
            }
            print("offset merge \(type): worst |merged − (W0 + ΔW)| \(worst)")
        }
        XCTAssertNil(QuantOffsetMerge.merge(try QuantizedMatrix.quantize([Float](repeating: 1, count: 64), rows: 1, cols: 64, as: .q8_0),
                                            delta: [0, 0]))
    }

    func testKQuantOffsetMergeRefitsMins() throws {
        for type in [GGMLType.q4_K, .q5_K] {
            // No change: the blocks come back bit for bit.
            let (_, _, _, same) = try offsetMerge(type, deltaScale: 0)
            let w = SplitMix64.uniformSymmetric(seed: 7, count: 6 * 256).map { $0 * 0.1 + 0.02 }
            let base = try QuantizedMatrix.quantize(w, rows: 6, cols: 256, as: type)
            XCTAssertEqual(Data(bytes: same.storage.base, count: same.byteCount), Data(bytes: base.storage.base, count: base.byteCount))
            // A change: the merged offsets follow it to within the refitted 6-bit grid.
            let (b, m, gd, _) = try offsetMerge(type, deltaScale: 0.003)
            var dot = 0.0, dd = 0.0, err = 0.0
            for i in b.indices {
                let d = Double(gd[i / 32]), got = Double(m[i] - b[i])
                dot += got * d; dd += d * d; err += (got - d) * (got - d)
            }
            print("offset merge \(type): survival \(dot / dd), error / change \((err / dd).squareRoot())")
            XCTAssertGreaterThan(dot / dd, 0.8)
            // Transcoded to Q4_1/Q5_1: exact up to the fp16 roundings of d·sc_j and of the new m.
            let to: GGMLType = type == .q4_K ? .q4_1 : .q5_1
            XCTAssertTrue(QuantOffsetMerge.canMerge(from: type, to: to))
            XCTAssertFalse(QuantOffsetMerge.canMerge(from: type, to: .q8_0))
            let t = try XCTUnwrap(QuantOffsetMerge.merge(base, delta: gd, as: to))
            XCTAssertEqual(t.type, to)
            let bd = base.dequantized(), td = t.dequantized()
            var worst: Float = 0
            for i in bd.indices {
                let e = abs(td[i] - (bd[i] + gd[i / 32]))
                worst = max(worst, e)
                XCTAssertLessThanOrEqual(e, (abs(bd[i]) + 2 * abs(gd[i / 32]) + 0.2) * 0x1p-11, "\(type) → \(to) element \(i)")
            }
            print("transcode \(type) → \(to): worst |merged − (W0 + ΔW)| \(worst)")
        }
    }

    func testMergeSurvivalAndAutoType() throws {
        let dir = try tempDir()
        let m = try model(.q4_1, dir: dir)
        let pool = ThreadPool(threads: 2)
        // A change far below the Q4_1 step is rounded away by requantization; offsets keep it.
        for qa in [false, true] {
            let p = try params(m, quantAware: qa, bScale: 0.002)
            for (type, name) in [(MergeType.same, "same"), (.type(.f32), "f32"), (.auto, "auto")] {
                let reports = try LoRAMerge.writeGGUF(model: m, adapter: p, to: dir + "/o-\(qa)-\(name).gguf", type: type, pool: pool)
                let overall = try XCTUnwrap(LoRAMerge.overallSurvival(reports))
                print("survival quantAware=\(qa) \(name): \(overall) types \(Set(reports.map(\.type)))")
                switch (qa, name) {
                case (_, "f32"): XCTAssertEqual(overall, 1, accuracy: 1e-6)
                case (false, "same"): XCTAssertLessThan(overall, LoRAMerge.mostLostSurvival)
                case (false, "auto"):
                    XCTAssertEqual(Set(reports.map(\.type)), ["Q8_0"])
                    XCTAssertGreaterThan(overall, LoRAMerge.autoKeepSurvival)
                default:   // quant-aware into Q4_1: through the offsets, the base's type and size; this change is so
                           // small that the fp16 rounding of the new m is visible (0.3% here)
                    XCTAssertTrue(reports.allSatisfy { $0.offsets && $0.type == "Q4_1" })
                    XCTAssertGreaterThan(overall, 0.99)
                }
            }
        }
        let base = try FileManager.default.attributesOfItem(atPath: m.source.path)[.size] as? Int
        let merged = try FileManager.default.attributesOfItem(atPath: dir + "/o-true-auto.gguf")[.size] as? Int
        XCTAssertEqual(base, merged)
        // Overall survival weights each matrix by ‖ΔW‖².
        let r = [MergedMatrixReport(name: "a", type: "Q4_1", relativeError: 0, relativeDelta: 0, survived: 1, deltaNorm: 1),
                 MergedMatrixReport(name: "b", type: "Q4_1", relativeError: 0, relativeDelta: 0, survived: 0, deltaNorm: 3)]
        XCTAssertEqual(try XCTUnwrap(LoRAMerge.overallSurvival(r)), 0.1, accuracy: 1e-12)
        XCTAssertEqual(try MergeType(name: "AUTO"), .auto)
        // On a Q4_K base a quant-aware adapter goes exactly into Q4_1 (same codes); `same` refits the mins in place.
        // (the synthetic writer has no K-quants: the f32 matrix quantized here)
        let k = try model(.f32, dir: dir, dim: 256)
        let pk = try params(k, quantAware: true, bScale: 0.002)
        let s = try XCTUnwrap(pk.slot(layer: 0, target: .q_proj))
        let wf = k.layers[0].matrix(.q_proj)
        let W0 = try QuantizedMatrix.quantize(wf.dequantized(), rows: wf.rows, cols: wf.cols, as: .q4_K)
        XCTAssertEqual(try LoRAMerge.autoType(base: W0, adapter: pk, slot: s, pool: pool), .q4_1)
        let (_, auto) = try LoRAMerge.mergeMatrix(base: W0, adapter: pk, slot: s, type: .q4_1, name: "q", pool: pool)
        let (_, same) = try LoRAMerge.mergeMatrix(base: W0, adapter: pk, slot: s, type: .q4_K, name: "q", pool: pool)
        XCTAssertTrue(auto.offsets && same.offsets)
        XCTAssertGreaterThan(auto.survived ?? 0, 0.99)
        print("Q4_K base, quant-aware: auto (Q4_1) survived \(auto.survived ?? .nan), same (refit) \(same.survived ?? .nan)")
    }

    func testSettingPlumbing() throws {
        let dir = try tempDir()
        try #"{"lora": {"quantAware": true}}"#.write(toFile: dir + "/c.json", atomically: false, encoding: .utf8)
        let c = try TrainingConfig.resolve(base: TrainingConfig.runDefaults, file: dir + "/c.json", overrides: TrainingOverrides())
        XCTAssertTrue(c.lora.quantAware)
        var o = TrainingOverrides()
        o.quantAware = true
        XCTAssertTrue(o.applied(to: TrainingConfig.runDefaults).lora.quantAware)
        XCTAssertEqual(ConfigSchema.aliases["quant-aware"], "lora.quantAware")
        // A checkpoint of a plain run does not resume a quant-aware one.
        let a = CheckpointHeader.flatten(TrainingConfig.runDefaults.resumeDefining), b = CheckpointHeader.flatten(c.resumeDefining)
        XCTAssertEqual(a["lora.quantAware"], "false")
        XCTAssertEqual(b["lora.quantAware"], "true")
        // An old configuration without the key reads as plain LoRA.
        let old = try JSONDecoder().decode(LoRAConfig.self, from: Data(#"{"rank": 4}"#.utf8))
        XCTAssertFalse(old.quantAware)
        // The PEFT folder records it in the safetensors metadata; adapter_config.json stays PEFT's.
        let m = try model(.q4_1, dir: dir)
        let p = try params(m, quantAware: true)
        try p.savePEFT(to: dir + "/ad", model: m.config, baseModelName: "x")
        let back = try LoRAParameters.loadPEFT(from: dir + "/ad", model: m.config)
        XCTAssertTrue(back.config.quantAware)
        XCTAssertEqual(back.values, p.values)
        let cfgText = try String(contentsOfFile: dir + "/ad/adapter_config.json", encoding: .utf8)
        XCTAssertFalse(cfgText.contains("quant"))
        // A plain adapter saved the same way is not marked.
        let plain = try params(m, quantAware: false)
        try plain.savePEFT(to: dir + "/plain", model: m.config, baseModelName: "x")
        XCTAssertFalse(try LoRAParameters.loadPEFT(from: dir + "/plain", model: m.config).config.quantAware)
    }
}
