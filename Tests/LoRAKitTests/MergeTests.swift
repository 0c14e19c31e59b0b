import Foundation
import XCTest
@testable import LoRAKit

/// lorakit merge on SmolLM2 with the PEFT fixture adapter (nonzero B, q/k/v/o): the merged model scored by our
/// Evaluator matches base + adapter unmerged (exactly for F32, within the reported requantization error for the
/// base's Q4_1 and for Q8_0); untouched tensors and metadata are copied; the HF folder holds the same merged
/// matrices in HF row order, a config and tokenizer our loaders read back.
final class MergeTests: XCTestCase {
    static func setup() throws -> (ModelWeights, LoRAParameters, Tokenizer, [Int32], ThreadPool) {
        let w = try GoldenFixture.smolLM2()
        let p = try LoRAParameters.loadPEFT(from: GoldenFixture.directory.appendingPathComponent("peft/adapter").path, model: w.config)
        let tok = try Tokenizer(modelPath: try GoldenFixture.smolLM2Path())
        let text = "The capital of France is Paris. It is known for the Eiffel Tower and fine food. "
            + "Once upon a time, in a land far away, there lived a small dragon who loved to read books about the stars."
        return (w, p, tok, tok.encode(text), ThreadPool(threads: 2))
    }

    func tmp(_ name: String) -> String {
        NSTemporaryDirectory() + "lorakit-merge-\(ProcessInfo.processInfo.processIdentifier)-\(name)"
    }

    func logits(_ w: ModelWeights, _ lora: LoRAParameters?, _ tokens: [Int32], _ pool: ThreadPool) -> [Float] {
        let g = LlamaGraph(weights: w, lora: lora, batch: 1, sequence: tokens.count, training: false, checkpointing: false, pool: pool)
        g.setBatch(tokens: tokens, targets: [Int32](repeating: -1, count: tokens.count))
        return g.computeLogits()
    }

    func testMergedGGUFMatchesUnmergedAdapter() throws {
        let (w, p, _, tokens, pool) = try Self.setup()
        let ctx = 24
        let unmerged = try Evaluator.evaluate(model: w, adapter: p, tokens: tokens, context: ctx, windows: 2, pool: pool)
        let base = try Evaluator.evaluate(model: w, tokens: tokens, context: ctx, windows: 2, pool: pool)
        XCTAssertGreaterThan(abs(unmerged.meanLoss - base.meanLoss), 1e-3, "the adapter should change the loss")
        let ref = logits(w, p, tokens, pool)
        for (type, name) in [(MergeType.type(.f32), "f32"), (.same, "same"), (.type(.q8_0), "q8_0")] {
            let path = tmp("\(name).gguf")
            defer { try? FileManager.default.removeItem(atPath: path) }
            let reports = try LoRAMerge.writeGGUF(model: w, adapter: p, to: path, type: type, pool: pool)
            XCTAssertEqual(reports.count, p.slots.count)
            let m = try ModelWeights.load(path: path)
            XCTAssertEqual(m.config, w.config)
            let merged = try Evaluator.evaluate(model: m, tokens: tokens, context: ctx, windows: 2, pool: pool)
            let err = relativeError(logits(m, nil, tokens, pool), ref)
            let worst = reports.map(\.relativeError).max() ?? 0
            // First-order bound: independent per-matrix errors e_i add up to about sqrt(Σ e_i²) at the logits.
            let rss = reports.map { $0.relativeError * $0.relativeError }.reduce(0, +).squareRoot()
            print("merge \(name): loss merged \(merged.meanLoss) unmerged \(unmerged.meanLoss) base \(base.meanLoss); "
                + "logits rel err \(err) (base vs unmerged \(relativeError(logits(w, nil, tokens, pool), ref))); "
                + "requant rel err max \(worst), root-sum-square \(rss)")
            if case .type(.f32) = type {
                XCTAssertEqual(worst, 0)
                XCTAssertLessThanOrEqual(err, 1e-5)
                XCTAssertEqual(merged.meanLoss, unmerged.meanLoss, accuracy: 1e-4)
            } else {
                XCTAssertGreaterThan(worst, 0)
                XCTAssertLessThanOrEqual(err, rss, "logits error within the requantization error")
                XCTAssertEqual(merged.meanLoss, unmerged.meanLoss, accuracy: rss * unmerged.meanLoss)
            }
            // Metadata and untouched tensors are copied as they are.
            let src = try XCTUnwrap(w.gguf), out = try GGUFFile(path: path)
            XCTAssertEqual(out.metadataKeys, src.metadataKeys)
            XCTAssertEqual(out.metadata, src.metadata)
            XCTAssertEqual(out.tensors.map(\.name), src.tensors.map(\.name))
            for name in ["token_embd.weight", "blk.0.ffn_up.weight", "blk.3.attn_norm.weight"] {
                let a = try src.tensorBytes(named: name), b = try out.tensorBytes(named: name)
                XCTAssertEqual(a.withUnsafeBytes { Array($0) }, b.withUnsafeBytes { Array($0) }, name)
            }
            let q = try XCTUnwrap(out.tensorInfo(named: "blk.0.attn_q.weight"))
            XCTAssertEqual(q.type, type.resolve(base: .q4_1))
        }
    }

    func testMergedHFFolder() throws {
        let (w, p, tok, tokens, pool) = try Self.setup()
        let dir = tmp("hf"), gguf = tmp("ref.gguf")
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: gguf) }
        try LoRAMerge.writeHF(model: w, adapter: p, to: dir, dtype: .f32, pool: pool)
        try LoRAMerge.writeGGUF(model: w, adapter: p, to: gguf, type: .type(.f32), pool: pool)
        // The same merged matrices, q/k rows in HF order.
        let st = try SafetensorsFile(path: dir + "/model.safetensors"), g = try GGUFFile(path: gguf)
        for (hf, gg, heads) in [("model.layers.2.self_attn.q_proj.weight", "blk.2.attn_q.weight", w.config.headCount),
                                ("model.layers.2.self_attn.k_proj.weight", "blk.2.attn_k.weight", w.config.headCountKV),
                                ("model.layers.2.self_attn.v_proj.weight", "blk.2.attn_v.weight", 0)] {
            let m = try g.matrix(named: gg)
            var want = m.dequantized()
            if heads > 0 { want = try QKPermutation.ggufToHF(want, rows: m.rows, cols: m.cols, heads: heads) }
            XCTAssertEqual(try st.floats(named: hf), want, hf)
        }
        XCTAssertEqual(try HFConfig.load(path: dir + "/config.json").blockCount, w.config.blockCount)
        // Our HF loader reads it back (quantized to Q8_0 at load) close to the F32 merge.
        let hfModel = try ModelWeights.load(path: dir, quantizeTo: .q8_0)
        XCTAssertEqual(hfModel.config.embeddingLength, w.config.embeddingLength)
        let err = relativeError(logits(hfModel, nil, tokens, pool), logits(try ModelWeights.load(path: gguf), nil, tokens, pool))
        // (Every matrix and the embedding are quantized to Q8_0 at load; transformers reads the folder within 2e-6 of
        // PEFT's unmerged logits, checked by hand.)
        XCTAssertLessThanOrEqual(err, 8e-2, "HF folder (Q8_0 at load) vs F32 GGUF merge")
        // Tokenizer files give the same ids and chat template.
        let htok = try Tokenizer(modelPath: dir)
        let text = "Hello, world! 12345 <|im_start|>user\nnaïve café<|im_end|>"
        XCTAssertEqual(htok.encode(text), tok.encode(text))
        XCTAssertEqual(htok.vocabulary.chatTemplate, tok.vocabulary.chatTemplate)
        XCTAssertEqual(htok.vocabulary.eosID, tok.vocabulary.eosID)
    }

    func testTypeErrors() throws {
        XCTAssertThrowsError(try MergeType(name: "int3"))
        XCTAssertThrowsError(try MergeType(name: "q2_k")) { XCTAssertTrue("\($0)".contains("q4_k, q5_k, q6_k"), "\($0)") }
        XCTAssertEqual(try MergeType(name: "same"), .same)
        XCTAssertEqual(try MergeType(name: "Q8_0"), .type(.q8_0))
        XCTAssertEqual(try MergeType(name: "q4_k"), .type(.q4_K))
        XCTAssertEqual(MergeType.same.resolve(base: .q4_K), .q4_K)
        XCTAssertEqual(MergeType.same.resolve(base: .q5_0, cols: 576), .q5_0)
        // K-quants on rows that are not multiples of 256 fall back like llama-quantize.
        XCTAssertEqual(MergeType.type(.q4_K).resolve(base: .q4_1, cols: 576), .q5_0)
        XCTAssertEqual(MergeType.type(.q5_K).resolve(base: .q4_1, cols: 576), .q5_1)
        XCTAssertEqual(MergeType.type(.q6_K).resolve(base: .q4_1, cols: 576), .q8_0)
        XCTAssertEqual(MergeType.type(.q6_K).resolve(base: .q4_1, cols: 1536), .q6_K)
        XCTAssertEqual(MergeType.type(.q4_K).resolve(base: .q4_1, cols: 48), .f16)
        let (w, p, _, _, pool) = try Self.setup()
        XCTAssertThrowsError(try LoRAMerge.writeHF(model: w, adapter: p, to: tmp("bad"), dtype: .q8_0, pool: pool)) { e in
            XCTAssertEqual(e as? MergeError, .typeNotForHF(.q8_0))
        }
    }
}
