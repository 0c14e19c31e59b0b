import Foundation
import XCTest
@testable import LoRAKit

/// DoRA (PEFT `use_dora`): row norms, gradients against finite differences (tiny model) and against PEFT
/// (scripts/fixtures/peft_dora.py on SmolLM2), a PEFT-saved adapter's loss, save/load, merge, generation, and the
/// llama.cpp export refusal.
final class DoRATests: XCTestCase {
    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-dora-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// A DoRA adapter on the tiny model with nonzero B and magnitudes away from the row norms.
    func tinyAdapter(_ model: ModelWeights, targets: [LoRATarget] = LoRATarget.allCases) throws -> LoRAParameters {
        var p = try LoRAParameters(config: LoRAConfig(rank: 3, alpha: 5, targets: targets, seed: 3, useDoRA: true), weights: model)
        let noise = SplitMix64.uniformSymmetric(seed: 99, count: p.count)
        for s in p.slots {
            for j in 0..<(s.outFeatures * 3) { p.values[s.bOffset + j] = noise[s.bOffset + j] * 0.3 }
            for j in 0..<s.outFeatures { p.values[s.magnitudeOffset! + j] *= 1 + 0.2 * noise[s.magnitudeOffset! + j] }
        }
        return p
    }

    func testMagnitudeInitAndRowNorms() throws {
        let model = try LoRAGradientCheckTests.tinyModel(dir: try tempDir())
        let p = try tinyAdapter(model)
        let fresh = try LoRAParameters(config: p.config, weights: model)
        let g = LlamaGraph(weights: model, lora: p, batch: 1, sequence: 4, training: false, checkpointing: false, pool: ThreadPool(threads: 2))
        g.setBatch(tokens: [1, 2, 3, 4], targets: [2, 3, 4, -1])
        _ = g.run(backward: false, gradScale: 0)
        let rows = try XCTUnwrap(g.doraRows)
        var worst = 0.0
        for s in p.slots {
            let W = model.layers[s.layer].matrix(s.target)
            var w = W.dequantized()
            let (o, i, r) = (s.outFeatures, s.inFeatures, 3)
            for j in 0..<o {
                var n2 = 0.0, w02 = 0.0
                for c in 0..<i {
                    var ba = 0.0
                    for k in 0..<r { ba += Double(p.values[s.bOffset + j * r + k]) * Double(p.values[s.aOffset + k * i + c]) }
                    w02 += Double(w[j * i + c]) * Double(w[j * i + c])
                    let v = Double(w[j * i + c]) + Double(p.config.scale) * ba
                    n2 += v * v
                    w[j * i + c] = Float(v)
                }
                // m starts at ‖W0 row‖ (PEFT's init with B = 0).
                XCTAssertEqual(Double(fresh.values[s.magnitudeOffset! + j]), w02.squareRoot(), accuracy: 1e-5 * w02.squareRoot())
                let ours = Double(rows.norm[s.rowOffset! + j])
                worst = max(worst, abs(ours - n2.squareRoot()) / n2.squareRoot())
                XCTAssertEqual(Double(rows.scale[s.rowOffset! + j]), Double(p.values[s.magnitudeOffset! + j]) / ours, accuracy: 1e-6)
            }
        }
        XCTAssertLessThan(worst, 1e-5, "row norms ‖W0 + s·B·A‖ from the cached ‖W0‖² and the A·W0ᵀ product")
    }

    /// Central differences of the loss with the row norms held (PEFT detaches them) for A, B and m of every slot;
    /// m's gradient is also the true derivative (the norm does not depend on m).
    func testGradientsMatchFiniteDifferences() throws {
        let model = try LoRAGradientCheckTests.tinyModel(dir: try tempDir())
        let p = try tinyAdapter(model)
        for checkpointing in [false, true] {
            let B = 2, S = 7
            let tokens = (0..<(B * S)).map { Int32(($0 * 7 + 3) % 40) }
            var targets = (0..<(B * S)).map { Int32(($0 * 11 + 5) % 40) }
            targets[0] = -1; targets[9] = -1
            let n = targets.filter { $0 >= 0 }.count
            let g = LlamaGraph(weights: model, lora: p, batch: B, sequence: S, training: true, checkpointing: checkpointing,
                               pool: ThreadPool(threads: 2))
            g.setBatch(tokens: tokens, targets: targets)
            g.grads.zero()
            _ = g.run(backward: true, gradScale: 1 / Float(n))
            let analytic = g.grads.array()
            g.doraNormsFrozen = true
            func loss() -> Double { g.run(backward: false, gradScale: 0).mean }
            var worst = 0.0
            for s in p.slots {
                let m = s.magnitudeOffset!
                for off in [s.aOffset, s.aOffset + 5, s.bOffset + 1, s.bOffset + 3 * s.outFeatures - 2, m, m + s.outFeatures - 1] {
                    let orig = g.params.ptr[off], eps: Float = 1e-2
                    g.params.ptr[off] = orig + eps; let lp = loss()
                    g.params.ptr[off] = orig - eps; let lm = loss()
                    g.params.ptr[off] = orig
                    let fd = (lp - lm) / Double(2 * eps)
                    let err = abs(fd - Double(analytic[off])) / max(abs(fd), 1e-3)
                    worst = max(worst, err)
                    XCTAssertLessThan(err, 2e-2, "slot \(s.layer).\(s.target) offset \(off): fd \(fd) analytic \(analytic[off])")
                }
            }
            print("DoRA finite-difference check (checkpointing \(checkpointing)): worst relative error \(worst)")
        }
    }

    func testGradientsMatchPEFT() throws {
        let w = try GoldenFixture.smolLM2()
        let meta = try GoldenFixture.json("dora/grads.json")
        let tokens = GoldenFixture.ints2(meta["tokens"])
        let targets = GoldenFixture.ints2(meta["targets_ids"]).map { $0 < 0 ? Int32(-1) : $0 }
        let c = w.config, r = 4
        // Rows of B and m between PyTorch's (HF) order and ours (GGUF: q/k permuted).
        func toGGUF(_ v: [Float], _ s: LoRASlot, cols: Int) throws -> [Float] {
            guard let h = QKPermutation.heads(for: s.target, model: c) else { return v }
            return try QKPermutation.hfToGGUF(v, rows: s.outFeatures, cols: cols, heads: h)
        }
        func toHF(_ v: [Float], _ s: LoRASlot, cols: Int) throws -> [Float] {
            guard let h = QKPermutation.heads(for: s.target, model: c) else { return v }
            return try QKPermutation.ggufToHF(v, rows: s.outFeatures, cols: cols, heads: h)
        }
        let names = (meta["targets"] as! [String]).compactMap(LoRATarget.init(rawValue:))
        // A, B as lk_init makes them (B in HF order → GGUF rows), m = PEFT's init (the row norms of W0).
        var p = try LoRAParameters(config: LoRAConfig(rank: r, alpha: 8, targets: names, useDoRA: true), weights: w)
        for s in p.slots {
            let a = SplitMix64.uniformSymmetric(seed: LoRAParameters.seed(0, s.layer, s.target, isB: false), count: r * s.inFeatures)
            let bound = 1 / Float(s.inFeatures).squareRoot()
            for j in 0..<a.count { p.values[s.aOffset + j] = a[j] * bound }
            let b = SplitMix64.uniformSymmetric(seed: LoRAParameters.seed(0, s.layer, s.target, isB: true), count: s.outFeatures * r)
            let bGGUF = try toGGUF(b.map { $0 * 0.1 }, s, cols: r)
            p.values.replaceSubrange(s.bOffset ..< s.bOffset + bGGUF.count, with: bGGUF)
        }
        let ref = try GoldenFixture.floats("dora/grads.f32")
        for ckpt in [false, true] {
            let g = LlamaGraph(weights: w, lora: p, batch: 2, sequence: 24, training: true, checkpointing: ckpt, pool: ThreadPool(threads: 2))
            g.setBatch(tokens: tokens, targets: targets)
            g.grads.zero()
            let loss = g.run(backward: true, gradScale: 1 / Float(targets.filter { $0 >= 0 }.count))
            XCTAssertEqual(loss.mean, meta["loss"] as! Double, accuracy: 1e-4 * (meta["loss"] as! Double))
            var off = 0, worst = 0.0
            for (name, shape) in zip(meta["grad_tensors"] as! [String], meta["grad_shapes"] as! [[Int]]) {
                let parts = name.split(separator: ".")
                let s = p.slot(layer: Int(parts[0])!, target: LoRATarget(rawValue: String(parts[1]))!)!
                let count = shape.reduce(1, *)
                let refT = Array(ref[off..<(off + count)])
                off += count
                let grads = g.grads.array(), ours: [Float]
                switch parts[2] {
                case "A": ours = Array(grads[s.aOffset ..< s.aOffset + count])
                case "B": ours = try toHF(Array(grads[s.bOffset ..< s.bOffset + count]), s, cols: r)
                default: ours = try toHF(Array(grads[s.magnitudeOffset! ..< s.magnitudeOffset! + count]), s, cols: 1)
                }
                let err = relativeError(ours, refT)
                worst = max(worst, err)
                XCTAssertLessThanOrEqual(err, 1e-3, "\(name) (checkpointing \(ckpt)): relative error \(err)")
            }
            XCTAssertEqual(off, ref.count)
            print("DoRA gradients vs PEFT (checkpointing \(ckpt)): loss \(loss.mean) vs \(meta["loss"]!), worst relative error \(worst)")
        }
    }

    /// A DoRA adapter saved by PEFT: our loss equals PEFT's; generation's decoder gives the training graph's logits;
    /// saving and loading it again is lossless and says use_dora.
    func testPEFTSavedAdapterLossGenerateAndRoundTrip() throws {
        let w = try GoldenFixture.smolLM2()
        let meta = try GoldenFixture.json("dora/adapter.json")
        let grads = try GoldenFixture.json("dora/grads.json")
        let dir = GoldenFixture.directory.appendingPathComponent("dora/adapter").path
        let p = try LoRAParameters.loadPEFT(from: dir, model: w.config)
        XCTAssertTrue(p.config.useDoRA)
        XCTAssertEqual(p.config.rank, 2)
        let tokens = GoldenFixture.ints2(grads["tokens"])
        let targets = GoldenFixture.ints2(grads["targets_ids"]).map { $0 < 0 ? Int32(-1) : $0 }
        let pool = ThreadPool(threads: 2)
        let g = LlamaGraph(weights: w, lora: p, batch: 2, sequence: 24, training: false, checkpointing: false, pool: pool)
        g.setBatch(tokens: tokens, targets: targets)
        let loss = g.run(backward: false, gradScale: 0).mean, ref = meta["loss"] as! Double
        print("PEFT-saved DoRA adapter: our loss \(loss), PEFT's \(ref), relative \(abs(loss - ref) / ref)")
        XCTAssertEqual(loss, ref, accuracy: 1e-4 * ref)

        // Generation's decoder (one chunk) against the graph's logits of the first row.
        let row = Array(tokens[0..<24])
        let g1 = LlamaGraph(weights: w, lora: p, batch: 1, sequence: 24, training: false, checkpointing: false, pool: pool)
        g1.setBatch(tokens: row, targets: [Int32](repeating: -1, count: 24))
        let graphLogits = g1.computeLogits()
        let dec = try LlamaDecoder(weights: w, maxContext: 64, maxChunk: 32, maxRank: 8, pool: pool)
        try dec.setAdapter(LoRAAdapter(name: "dora", parameters: p))
        let decLogits = try dec.append(row, allLogits: true)
        XCTAssertLessThanOrEqual(relativeError(decLogits, graphLogits), 1e-4)

        let out = try tempDir() + "/saved"
        try p.savePEFT(to: out, model: w.config, baseModelName: "smol")
        let back = try LoRAParameters.loadPEFT(from: out, model: w.config)
        XCTAssertEqual(back.values, p.values)
        let cfg = try String(contentsOfFile: out + "/adapter_config.json", encoding: .utf8)
        XCTAssertTrue(cfg.contains("\"use_dora\": true"))
        let keys = try SafetensorsFile(path: out + "/adapter_model.safetensors").tensors.map(\.name)
        XCTAssertTrue(keys.contains(PEFTAdapter.magnitudeKey(layer: 0, target: .q_proj)))
        XCTAssertThrowsError(try p.exportLlamaCppGGUF(to: out + "/a.gguf", model: w.config)) { e in
            XCTAssertTrue("\(e)".contains("DoRA"), "\(e)")
        }
    }

    /// A DoRA adapter trained and saved by LoRAKit (`lorakit train --dora`, Tests/Fixtures/dora/trained): PEFT loads it with
    /// use_dora (scripts/fixtures/peft_dora_check.py, every tensor held exactly) and its loss is ours.
    func testTrainedAdapterLossMatchesPEFT() throws {
        let w = try GoldenFixture.smolLM2()
        let meta = try GoldenFixture.json("dora/trained.json")
        let grads = try GoldenFixture.json("dora/grads.json")
        let p = try LoRAParameters.loadPEFT(from: GoldenFixture.directory.appendingPathComponent("dora/trained").path, model: w.config)
        XCTAssertTrue(p.config.useDoRA)
        let targets = GoldenFixture.ints2(grads["targets_ids"]).map { $0 < 0 ? Int32(-1) : $0 }
        let g = LlamaGraph(weights: w, lora: p, batch: 2, sequence: 24, training: false, checkpointing: false, pool: ThreadPool(threads: 2))
        g.setBatch(tokens: GoldenFixture.ints2(grads["tokens"]), targets: targets)
        let loss = g.run(backward: false, gradScale: 0).mean, ref = meta["loss"] as! Double, base = meta["base_loss"] as! Double
        print("LoRAKit-trained DoRA adapter: our loss \(loss), PEFT's \(ref) (base \(base)), relative \(abs(loss - ref) / ref)")
        XCTAssertGreaterThan(abs(ref - base), 1e-3, "the adapter should matter")
        XCTAssertEqual(loss, ref, accuracy: 1e-4 * ref)
    }

    /// A fresh DoRA adapter (B = 0, m = ‖W0 row‖) leaves the model exactly as it was, in both precisions.
    func testFreshAdapterIsTheBase() throws {
        let w = try GoldenFixture.smolLM2()
        let grads = try GoldenFixture.json("dora/grads.json")
        let tokens = Array(GoldenFixture.ints2(grads["tokens"])[0..<24])
        let p = try LoRAParameters(config: LoRAConfig(rank: 8, targets: [.q_proj, .v_proj], useDoRA: true), weights: w)
        let pool = ThreadPool(threads: 2)
        for precision in ComputePrecision.allCases {
            func logits(_ l: LoRAParameters?) -> [Float] {
                let g = LlamaGraph(weights: w, lora: l, batch: 1, sequence: 24, training: true, checkpointing: false, pool: pool)
                g.precision = precision
                g.setBatch(tokens: tokens, targets: [Int32](repeating: -1, count: 24))
                return g.computeLogits()
            }
            // Exactly: bf16 products round their inputs, so even a 1-ulp scale would show as bf16 noise (~5e-3).
            XCTAssertEqual(logits(p), logits(nil), "\(precision)")
        }
    }

    /// Merged into F32 weights, a DoRA adapter gives the unmerged logits.
    func testMergeEqualsUnmerged() throws {
        let dir = try tempDir()
        let model = try LoRAGradientCheckTests.tinyModel(dir: dir)
        let p = try tinyAdapter(model)
        let pool = ThreadPool(threads: 2)
        let tokens = (0..<12).map { Int32(($0 * 7 + 3) % 40) }
        func logits(_ w: ModelWeights, _ l: LoRAParameters?) -> [Float] {
            let g = LlamaGraph(weights: w, lora: l, batch: 1, sequence: tokens.count, training: false, checkpointing: false, pool: pool)
            g.setBatch(tokens: tokens, targets: [Int32](repeating: -1, count: tokens.count))
            return g.computeLogits()
        }
        let ref = logits(model, p)
        XCTAssertGreaterThan(relativeError(logits(model, nil), ref), 1e-2, "the adapter should matter")
        let path = dir + "/merged.gguf"
        _ = try LoRAMerge.writeGGUF(model: model, adapter: p, to: path, type: .type(.f32), pool: pool)
        let err = relativeError(logits(try ModelWeights.load(path: path), nil), ref)
        print("DoRA merge (F32): logits relative error \(err)")
        XCTAssertLessThanOrEqual(err, 1e-5)
    }

    func testConfigChecksAndBudgetCount() throws {
        let model = try LoRAGradientCheckTests.tinyModel(dir: try tempDir())
        XCTAssertThrowsError(try LoRAConfig(dropout: 0.1, useDoRA: true).validate(for: model.config)) { e in
            XCTAssertEqual(e as? LoRAConfigError, .doraWithDropout(0.1))
        }
        let cfg = LoRAConfig(rank: 3, targets: [.q_proj, .down_proj], useDoRA: true)
        XCTAssertEqual(MemoryBudget.trainableCount(lora: cfg, model: model.config), try LoRAParameters(config: cfg, model: model.config).count)
        // The flag travels through the configuration file's keys and JSON.
        let json = try JSONEncoder().encode(cfg)
        XCTAssertTrue(try JSONDecoder().decode(LoRAConfig.self, from: json).useDoRA)
    }
}
