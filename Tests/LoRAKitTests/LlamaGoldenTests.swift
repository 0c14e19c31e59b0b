import XCTest
@testable import LoRAKit

/// The Llama forward and LoRA backward against transformers + PEFT on the same GGUF
/// (golden values from scripts/fixtures/model_golden.py).
final class LlamaGoldenTests: XCTestCase {
    func testLogitsMatchTransformers() throws {
        let w = try GoldenFixture.smolLM2()
        let meta = try GoldenFixture.json("model/logits.json")
        let tokens = GoldenFixture.ints(meta["tokens"])
        let ref = try GoldenFixture.floats("model/logits.f32")
        let pool = ThreadPool(threads: 2)
        let g = LlamaGraph(weights: w, lora: nil, batch: 1, sequence: tokens.count, training: false, checkpointing: false, pool: pool)
        g.setBatch(tokens: tokens, targets: [Int32](repeating: -1, count: tokens.count))
        let ours = g.computeLogits()
        XCTAssertEqual(ours.count, ref.count)
        let err = relativeError(ours, ref)
        XCTAssertLessThanOrEqual(err, 1e-4, "relative logits error \(err)")
    }

    func testPEFTParameterLine() throws {
        let w = try GoldenFixture.smolLM2()
        let p = try LoRAParameters(config: LoRAConfig(rank: 8, alpha: 16, targets: [.q_proj, .v_proj]), model: w.config)
        XCTAssertEqual(LoRAParameters.peftLine(trainable: p.count, baseParameters: w.config.parameterCount),
                       "trainable params: 460,800 || all params: 134,975,808 || trainable%: 0.3414")
    }

    /// Loads the fixture's deterministic A and B (HF order) into our layout (B rows of q/k permuted).
    func goldenParameters(_ c: LlamaConfig, bZero: Bool) throws -> LoRAParameters {
        var p = try LoRAParameters(config: LoRAConfig(rank: 8, alpha: 16, targets: [.q_proj, .v_proj]), model: c)
        for s in p.slots {
            let r = 8
            let a = SplitMix64.uniformSymmetric(seed: LoRAParameters.seed(0, s.layer, s.target, isB: false), count: r * s.inFeatures)
            let bound = 1 / Float(s.inFeatures).squareRoot()
            for j in 0..<a.count { p.values[s.aOffset + j] = a[j] * bound }
            let b = SplitMix64.uniformSymmetric(seed: LoRAParameters.seed(0, s.layer, s.target, isB: true), count: s.outFeatures * r)
            let heads = s.target == .q_proj ? c.headCount : (s.target == .k_proj ? c.headCountKV : 0)
            for row in 0..<s.outFeatures {
                let hfRow = heads > 0 ? ggufToHFRow(row, headDim: c.headDim) : row
                for j in 0..<r { p.values[s.bOffset + row * r + j] = bZero ? 0 : b[hfRow * r + j] * 0.02 }
            }
        }
        return p
    }

    /// HF row of a GGUF q/k row: gguf_row[h·hd + 2i + j] = hf_row[h·hd + j·hd/2 + i].
    func ggufToHFRow(_ g: Int, headDim hd: Int) -> Int {
        let h = g / hd, k = g % hd, i = k / 2, j = k % 2
        return h * hd + j * hd / 2 + i
    }

    func testLoRAGradientsMatchPEFT() throws {
        let w = try GoldenFixture.smolLM2()
        let meta = try GoldenFixture.json("model/lora_grads.json")
        let tokens = GoldenFixture.ints2(meta["tokens"])
        let targets = GoldenFixture.ints2(meta["targets_ids"]).map { $0 < 0 ? Int32(-1) : $0 }
        let c = w.config
        let p = try goldenParameters(c, bZero: false)
        for ckpt in [false, true] {
            let pool = ThreadPool(threads: 2)
            let g = LlamaGraph(weights: w, lora: p, batch: 2, sequence: 24, training: true, checkpointing: ckpt, pool: pool)
            g.setBatch(tokens: tokens, targets: targets)
            let n = targets.filter { $0 >= 0 }.count
            g.grads.zero()
            let loss = g.run(backward: true, gradScale: 1 / Float(n))
            XCTAssertEqual(loss.mean, meta["loss"] as! Double, accuracy: 1e-4 * (meta["loss"] as! Double))
            let names = meta["grad_tensors"] as! [String]
            let shapes = meta["grad_shapes"] as! [[Int]]
            let ref = try GoldenFixture.floats("model/lora_grads.f32")
            var off = 0
            for (name, shape) in zip(names, shapes) {
                let parts = name.split(separator: ".")
                let layer = Int(parts[0])!, target = LoRATarget(rawValue: String(parts[1]))!, isA = parts[2] == "A"
                let s = p.slot(layer: layer, target: target)!
                let count = shape[0] * shape[1]
                let refT = Array(ref[off..<(off + count)])
                off += count
                var ours = [Float](repeating: 0, count: count)
                if isA {
                    for j in 0..<count { ours[j] = g.grads.ptr[s.aOffset + j] }
                } else {
                    let heads = target == .q_proj ? c.headCount : 0
                    for row in 0..<s.outFeatures {
                        let hfRow = heads > 0 ? ggufToHFRow(row, headDim: c.headDim) : row
                        for j in 0..<8 { ours[hfRow * 8 + j] = g.grads.ptr[s.bOffset + row * 8 + j] }
                    }
                }
                let err = relativeError(ours, refT)
                XCTAssertLessThanOrEqual(err, 1e-3, "\(name) (checkpointing \(ckpt)): relative error \(err)")
            }
        }
    }

    func testCheckpointingGivesIdenticalGradients() throws {
        let w = try GoldenFixture.smolLM2()
        let p = try goldenParameters(w.config, bZero: false)
        let meta = try GoldenFixture.json("model/lora_grads.json")
        let tokens = GoldenFixture.ints2(meta["tokens"])
        let targets = GoldenFixture.ints2(meta["targets_ids"]).map { $0 < 0 ? Int32(-1) : $0 }
        var results: [[Float]] = []
        for ckpt in [false, true] {
            let g = LlamaGraph(weights: w, lora: p, batch: 2, sequence: 24, training: true, checkpointing: ckpt, pool: ThreadPool(threads: 2))
            g.setBatch(tokens: tokens, targets: targets)
            g.grads.zero()
            _ = g.run(backward: true, gradScale: 0.01)
            results.append(g.grads.array())
        }
        XCTAssertEqual(results[0], results[1], "checkpointing must not change gradients")
    }

    /// The recompute skips down_proj's frozen product (its output is already kept): gradients of every target,
    /// down_proj's included, stay bitwise those without checkpointing, with and without dropout, fp32 and int8.
    func testCheckpointingSkipsDownProductWithIdenticalGradients() throws {
        let w = try GoldenFixture.smolLM2()
        var p = try LoRAParameters(config: LoRAConfig(rank: 4, alpha: 8, dropout: 0.2, targets: LoRATarget.allCases), model: w.config)
        p.values = SplitMix64.uniformSymmetric(seed: 41, count: p.values.count).map { $0 * 0.05 }
        let meta = try GoldenFixture.json("model/lora_grads.json")
        let tokens = GoldenFixture.ints2(meta["tokens"])
        let targets = GoldenFixture.ints2(meta["targets_ids"]).map { $0 < 0 ? Int32(-1) : $0 }
        for precision in [ComputePrecision.fp32, .int8] {
            var results: [[Float]] = []
            for ckpt in [false, true] {
                let g = LlamaGraph(weights: w, lora: p, batch: 2, sequence: 24, training: true, checkpointing: ckpt, pool: ThreadPool(threads: 2))
                g.precision = precision
                g.dropoutSeed = 7
                g.setBatch(tokens: tokens, targets: targets)
                g.grads.zero()
                _ = g.run(backward: true, gradScale: 0.01)
                results.append(g.grads.array())
            }
            XCTAssertTrue(results[0].contains { $0 != 0 })
            let differing = zip(results[0], results[1]).filter { $0 != $1 }.count
            XCTAssertEqual(differing, 0, "checkpointing must not change gradients (\(precision))")
        }
    }
}
