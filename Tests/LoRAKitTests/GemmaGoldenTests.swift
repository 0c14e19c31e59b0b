import Foundation
import XCTest
@testable import LoRAKit

/// Gemma 3 on the real gemma-3-270m-q4_k_m.gguf against transformers + PEFT (scripts/fixtures/gemma3_golden.py,
/// Tests/Fixtures/gemma3): what the config reads from the file, the loss of two sequences (one past the 512-token
/// sliding window), greedy chat generations, and LoRA gradients on all seven projections.
final class GemmaGoldenTests: XCTestCase {
    static func gemmaPath() throws -> String { try GoldenFixture.gemma3Path() }
    static func gemma() throws -> ModelWeights { try GoldenFixture.gemma3() }

    func testConfigMatchesTransformers() throws {
        let c = try Self.gemma().config
        let fx = try GoldenFixture.json("gemma3/config.json")
        XCTAssertEqual(c.architecture, .gemma3)
        XCTAssertEqual(c.ropeStyle, .neox)
        XCTAssertTrue(c.qkNorm && c.postNorms)
        XCTAssertEqual(c.activation, .geluTanh)
        XCTAssertEqual(c.embeddingScale, Float(fx["embed_scale"] as! Double))
        XCTAssertEqual(c.attentionScale, Float(fx["scaling"] as! Double))
        XCTAssertEqual(c.headDim, 256)
        XCTAssertEqual(ModelPreset.gemma3_270m.config, c, "the budget preset is the file's architecture")
        let types = fx["layer_types"] as! [String]
        XCTAssertEqual(types.count, c.blockCount)
        let rope = fx["rope_parameters"] as! [String: [String: Any]]
        for (l, t) in types.enumerated() {
            XCTAssertEqual(c.attentionWindow(layer: l), t == "sliding_attention" ? (fx["sliding_window"] as! Int) : nil, "layer \(l)")
            XCTAssertEqual(c.ropeBase(layer: l), Float(rope[t]!["rope_theta"] as! Double), "layer \(l)")
        }
        // The file holds 1 + w; transformers keeps w.
        let w0 = try Self.gemma().layers[0].attnNorm
        for (i, v) in (fx["layer0_input_norm_hf_w"] as! [Double]).enumerated() { XCTAssertEqual(w0[i], Float(v) + 1) }
    }

    /// `lorakit eval --tokens` on the fixture's ids (BOS included, from llama-tokenize) equals transformers' mean loss;
    /// the 600-token sequence runs past the 512-token window of the local layers.
    func testLossMatchesTransformers() throws {
        let w = try Self.gemma()
        let fx = try GoldenFixture.json("gemma3/loss.json")
        let pool = ThreadPool(threads: 2)
        for c in fx["cases"] as! [[String: Any]] {
            let name = c["name"] as! String, ids = GoldenFixture.ints(c["tokens"])
            let want = c["mean_loss"] as! Double
            let r = try Evaluator.evaluate(model: w, tokens: ids, context: ids.count, windows: 1, pool: pool)
            XCTAssertEqual(r.tokensScored, ids.count - 1)
            let rel = abs(r.meanLoss - want) / want
            print("gemma3 \(name) (\(ids.count) tokens): mean loss \(r.meanLoss) vs transformers \(want), relative \(rel)")
            XCTAssertLessThanOrEqual(rel, 1e-4, "\(name): mean loss \(r.meanLoss) vs \(want)")
        }
    }

    func testLogitsMatchTransformers() throws {
        let w = try Self.gemma()
        let fx = try GoldenFixture.json("gemma3/loss.json")
        let c = (fx["cases"] as! [[String: Any]]).first { $0["name"] as? String == "short" }!
        let ids = GoldenFixture.ints(c["tokens"]), sum = c["logits"] as! [String: Any]
        let g = LlamaGraph(weights: w, lora: nil, batch: 1, sequence: ids.count, training: false, checkpointing: false,
                           pool: ThreadPool(threads: 2))
        g.setBatch(tokens: ids, targets: [Int32](repeating: -1, count: ids.count))
        let logits = g.computeLogits(), V = w.config.vocabSize
        let positions = sum["positions"] as! [Int], cols = sum["first_cols"] as! [[Double]]
        for (k, p) in positions.enumerated() {
            let row = Array(logits[(p * V)..<((p + 1) * V)])
            XCTAssertEqual(row.indices.max { row[$0] < row[$1] }, (sum["argmax"] as! [Int])[k], "argmax at \(p)")
            let norm = row.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let wantNorm = (sum["row_norm"] as! [Double])[k]
            XCTAssertLessThanOrEqual(abs(norm - wantNorm) / wantNorm, 1e-4, "row norm at \(p)")
            XCTAssertLessThanOrEqual(relativeError(Array(row[0..<32]), cols[k].map { Float($0) }), 1e-3, "first columns at \(p)")
        }
    }

    func testGreedyMatchesTransformers() throws {
        let w = try Self.gemma(), tok = try Tokenizer(modelPath: try Self.gemmaPath())
        let fx = try GoldenFixture.json("gemma3/greedy.json")
        let eos = GoldenFixture.ints(fx["eos_token_ids"])
        let gen = try Generator(model: w, tokenizer: tok, maxContext: 128, pool: ThreadPool(threads: 2))
        XCTAssertEqual(Set(gen.defaultStopTokens), Set(eos), "stops at <eos> and <end_of_turn>")
        let cases = fx["cases"] as! [[String: Any]]
        XCTAssertEqual(cases.count, 5)
        for c in cases {
            let name = c["name"] as! String, prompt = GoldenFixture.ints(c["prompt_ids"])
            let msgs = (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
            XCTAssertEqual(try gen.chatPrompt(msgs), prompt, "\(name): chat prompt ids")
            let r = try gen.generate(prompt: prompt, options: GenerationOptions(maxTokens: fx["max_new_tokens"] as! Int))
            XCTAssertEqual(r.tokens, GoldenFixture.ints(c["new_ids"]).filter { !eos.contains($0) }, "\(name): greedy tokens")
        }
    }

    /// PEFT's deterministic A and B (lk_init.py; Gemma's q/k rows are in HF order in the GGUF, so no permutation).
    static func goldenParameters(_ c: LlamaConfig, rank r: Int, alpha: Float) throws -> LoRAParameters {
        var p = try LoRAParameters(config: LoRAConfig(rank: r, alpha: alpha, targets: LoRATarget.allCases), model: c)
        for s in p.slots {
            let a = SplitMix64.uniformSymmetric(seed: LoRAParameters.seed(0, s.layer, s.target, isB: false), count: r * s.inFeatures)
            let bound = 1 / Float(s.inFeatures).squareRoot()
            for j in 0..<a.count { p.values[s.aOffset + j] = a[j] * bound }
            let b = SplitMix64.uniformSymmetric(seed: LoRAParameters.seed(0, s.layer, s.target, isB: true), count: s.outFeatures * r)
            for j in 0..<b.count { p.values[s.bOffset + j] = b[j] * 0.02 }
        }
        return p
    }

    func testLoRAGradientsMatchPEFT() throws {
        let w = try Self.gemma()
        let fx = try GoldenFixture.json("gemma3/lora_grads.json")
        let r = fx["r"] as! Int
        let tokens = GoldenFixture.ints2(fx["tokens"])
        let targets = GoldenFixture.ints2(fx["targets_ids"]).map { $0 < 0 ? Int32(-1) : $0 }
        let p = try Self.goldenParameters(w.config, rank: r, alpha: Float(fx["alpha"] as! Int))
        let S = tokens.count / 2
        let g = LlamaGraph(weights: w, lora: p, batch: 2, sequence: S, training: true, checkpointing: true, pool: ThreadPool(threads: 2))
        g.setBatch(tokens: tokens, targets: targets)
        g.grads.zero()
        let n = targets.filter { $0 >= 0 }.count
        let loss = g.run(backward: true, gradScale: 1 / Float(n))
        let wantLoss = fx["loss"] as! Double
        XCTAssertLessThanOrEqual(abs(loss.mean - wantLoss) / wantLoss, 1e-4, "loss \(loss.mean) vs \(wantLoss)")
        func grad(_ name: String) -> [Float] {
            let parts = name.split(separator: ".")
            let s = p.slot(layer: Int(parts[0])!, target: LoRATarget(rawValue: String(parts[1]))!)!
            let (off, count) = parts[2] == "A" ? (s.aOffset, r * s.inFeatures) : (s.bOffset, s.outFeatures * r)
            return (0..<count).map { g.grads.ptr[off + $0] }
        }
        var worstNorm = 0.0
        for (name, want) in fx["grad_norms"] as! [String: Double] {
            let norm = grad(name).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            worstNorm = max(worstNorm, abs(norm - want) / want)
        }
        print("gemma3 LoRA gradients: loss \(loss.mean) vs PEFT \(wantLoss); worst relative norm difference \(worstNorm)")
        XCTAssertLessThanOrEqual(worstNorm, 1e-3, "largest relative gradient-norm difference")
        let ref = try GoldenFixture.floats("gemma3/lora_grads.f32")
        var off = 0
        for (name, shape) in zip(fx["grad_tensors"] as! [String], fx["grad_shapes"] as! [[Int]]) {
            let count = shape[0] * shape[1], refT = Array(ref[off..<(off + count)])
            off += count
            let err = relativeError(grad(name), refT)
            print("gemma3 LoRA gradient \(name): relative error \(err)")
            XCTAssertLessThanOrEqual(err, 1e-3, "\(name): relative error \(err)")
        }
    }
}
