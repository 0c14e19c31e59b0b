import Foundation
import XCTest
@testable import LoRAKit

/// Generation on SmolLM2: greedy output vs transformers' `generate` (fixture from
/// scripts/fixtures/generate_golden.py), KV-cache logits vs the full forward, adapter hot-swapping.
final class GenerateGoldenTests: XCTestCase {
    /// A random adapter with nonzero A and B (so it changes the output).
    static func randomAdapter(_ name: String, seed: UInt64, targets: [LoRATarget], rank: Int, model: LlamaConfig) throws -> LoRAAdapter {
        var p = try LoRAParameters(config: LoRAConfig(rank: rank, alpha: Float(2 * rank), targets: targets, seed: seed), model: model)
        let noise = SplitMix64.uniformSymmetric(seed: seed &+ 77, count: p.count)
        for i in 0..<p.count { p.values[i] = noise[i] * 0.05 }
        return LoRAAdapter(name: name, parameters: p)
    }

    func testGreedyMatchesTransformers() throws {
        let w = try GoldenFixture.smolLM2()
        let tok = try Tokenizer(modelPath: try GoldenFixture.smolLM2Path())
        let fx = try GoldenFixture.json("generate/greedy.json")
        let eos = GoldenFixture.ints(fx["eos_token_ids"])
        let maxNew = (fx["max_new_tokens"] as? Int) ?? 24
        let gen = try Generator(model: w, tokenizer: tok, maxContext: 256, pool: ThreadPool(threads: 2))
        let cases = fx["cases"] as? [[String: Any]] ?? []
        XCTAssertGreaterThanOrEqual(cases.count, 5)
        for c in cases {
            let name = c["name"] as? String ?? "?"
            let prompt = GoldenFixture.ints(c["prompt_ids"])
            // Our tokenizer / chat template produce the same prompt ids.
            if let text = c["text"] as? String {
                XCTAssertEqual(tok.encode(text), prompt, "\(name): prompt ids")
            } else if let msgs = c["messages"] as? [[String: String]] {
                let m = msgs.map { ChatMessage(role: $0["role"] ?? "", content: $0["content"] ?? "") }
                XCTAssertEqual(try gen.chatPrompt(m), prompt, "\(name): chat prompt ids")
            }
            var streamed = ""
            let r = try gen.generate(prompt: prompt, options: GenerationOptions(maxTokens: maxNew, stopTokens: eos)) {
                streamed += $0; return true
            }
            let want = GoldenFixture.ints(c["new_ids"]).filter { !eos.contains($0) }
            XCTAssertEqual(r.tokens, want, "\(name): greedy tokens")
            XCTAssertEqual(streamed, r.text, "\(name): streamed text")
            XCTAssertEqual(r.text, tok.decode(want), "\(name): text")
        }
    }

    func testCachedLogitsMatchFullForward() throws {
        let w = try GoldenFixture.smolLM2()
        let tok = try Tokenizer(modelPath: try GoldenFixture.smolLM2Path())
        let tokens = tok.encode("The quick brown fox jumps over the lazy dog. Then it ran into the forest, far away from home.")
        XCTAssertGreaterThan(tokens.count, 16)
        let pool = ThreadPool(threads: 2)
        let adapter = try Self.randomAdapter("r", seed: 5, targets: [.q_proj, .k_proj, .v_proj, .o_proj, .down_proj], rank: 4, model: w.config)
        let params = try LoRAParameters(config: adapter.config, model: w.config)
        var p = params
        p.values = adapter.values.array()
        for lora in [nil, p] as [LoRAParameters?] {
            let g = LlamaGraph(weights: w, lora: lora, batch: 1, sequence: tokens.count, training: false, checkpointing: false, pool: pool)
            g.setBatch(tokens: tokens, targets: [Int32](repeating: -1, count: tokens.count))
            let full = g.computeLogits()
            let V = w.config.vocabSize
            // Prefill in chunks of 5 (past > 0 inside the prompt), then one token per step.
            let d = try LlamaDecoder(weights: w, maxContext: 64, maxChunk: 5, pool: pool)
            try d.setAdapter(lora == nil ? nil : adapter)
            let split = 11
            var ours = try d.append(Array(tokens[0..<split]), allLogits: true)
            for t in split..<tokens.count { ours += try d.append([tokens[t]]) }
            XCTAssertEqual(ours.count, full.count)
            let err = relativeError(ours, full)
            XCTAssertLessThanOrEqual(err, 1e-5, "adapter \(lora != nil): relative logits error \(err)")
            for t in [0, split, tokens.count - 1] {
                XCTAssertEqual(Sampler.argmax(Array(ours[(t * V)..<((t + 1) * V)])), Sampler.argmax(Array(full[(t * V)..<((t + 1) * V)])))
            }
        }
    }

    func testSwitchingAdaptersMatchesLoadingEachAlone() throws {
        let w = try GoldenFixture.smolLM2()
        let tok = try Tokenizer(modelPath: try GoldenFixture.smolLM2Path())
        let pool = ThreadPool(threads: 2)
        let set = AdapterSet(model: w)
        try set.load(peftDirectory: GoldenFixture.directory.appendingPathComponent("peft/adapter").path, name: "peft")
        set.add(try Self.randomAdapter("a", seed: 11, targets: [.q_proj, .v_proj], rank: 8, model: w.config))
        set.add(try Self.randomAdapter("b", seed: 12, targets: LoRATarget.allCases, rank: 4, model: w.config))
        let prompts = ["Tell me a story about", "The best way to learn Swift is"].map { tok.encode($0) }
        let opts = GenerationOptions(maxTokens: 8, sampling: SamplingOptions(temperature: 0.8, topP: 0.9, seed: 3))
        // One generator, adapters switched per request (interleaved).
        let shared = try Generator(model: w, tokenizer: tok, maxContext: 64, pool: pool)
        var switched: [String: [Int32]] = [:]
        for p in prompts.indices {
            for a in [nil] + set.adapters.map({ Optional($0) }) {
                try shared.setAdapter(a)
                switched["\(a?.name ?? "base")/\(p)"] = try shared.generate(prompt: prompts[p], options: opts).tokens
            }
        }
        // Each adapter alone in a fresh generator.
        var distinct = Set<[Int32]>()
        for a in [nil] + set.adapters.map({ Optional($0) }) {
            let g = try Generator(model: w, tokenizer: tok, maxContext: 64, pool: pool)
            try g.setAdapter(a)
            for p in prompts.indices {
                let r = try g.generate(prompt: prompts[p], options: opts).tokens
                XCTAssertEqual(r, switched["\(a?.name ?? "base")/\(p)"], "adapter \(a?.name ?? "base") prompt \(p)")
                if p == 0 { distinct.insert(r) }
            }
        }
        XCTAssertEqual(distinct.count, 4, "the base and the three adapters should answer differently")
    }

    /// Three adapters over one base: memory grows by about the adapters' own bytes, not by another base.
    func testThreeAdaptersKeepOneCopyOfTheBase() throws {
        let w = try GoldenFixture.smolLM2()
        let tok = try Tokenizer(modelPath: try GoldenFixture.smolLM2Path())
        let pool = ThreadPool(threads: 2)
        let baseBytes = LlamaGraph.allMatrices(w).map(\.byteCount).reduce(0, +) + (w.output == nil ? 0 : w.tokenEmbedding.byteCount)
        let gen = try Generator(model: w, tokenizer: tok, maxContext: 64, pool: pool)
        let prompt = tok.encode("The three primary colors are")
        let opts = GenerationOptions(maxTokens: 8)
        let a1 = try Self.randomAdapter("one", seed: 21, targets: [.q_proj, .v_proj], rank: 8, model: w.config)
        try gen.setAdapter(a1)
        _ = try gen.generate(prompt: prompt, options: opts)
        _ = try gen.generate(prompt: prompt, options: opts)
        let rss1 = ProcessMemory.residentBytes()
        let set = AdapterSet(model: w)
        set.add(a1)
        set.add(try Self.randomAdapter("two", seed: 22, targets: [.q_proj, .v_proj], rank: 8, model: w.config))
        set.add(try Self.randomAdapter("three", seed: 23, targets: [.q_proj, .v_proj], rank: 8, model: w.config))
        for _ in 0..<2 {
            for a in set.adapters {
                try gen.setAdapter(a)
                _ = try gen.generate(prompt: prompt, options: opts)
            }
        }
        let rss3 = ProcessMemory.residentBytes()
        let adapterBytes = set.adapters[1].byteCount + set.adapters[2].byteCount
        print("RSS with 1 adapter \(ProcessMemory.format(rss1)), with 3 \(ProcessMemory.format(rss3)); "
            + "growth \(ProcessMemory.format(rss3 - rss1)) for two adapters of \(ProcessMemory.format(adapterBytes)) "
            + "(base matrices \(ProcessMemory.format(baseBytes)))")
        XCTAssertLessThan(rss3 - rss1, adapterBytes * 3 + (8 << 20), "switching adapters must not copy the base")
        XCTAssertLessThan(rss3 - rss1, baseBytes / 4)
    }
}
