import CKernels
import Foundation
import XCTest
@testable import LoRAKit

/// A tiny Llama GGUF in llama-quantize's K-quant / Q5 mixes, end to end: loads with its blocks unchanged, its
/// forward equals the same model stored in F32 (the dequantized weights), training lowers the loss, the adapter
/// saves, `merge --type same` keeps every tensor's block type, and the llama.cpp adapter exports.
final class KQuantModelTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-kq-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    /// A 2-layer SmolLM2-vocabulary model (dim 256, ffn 768) written once as Q8_0 by SynthModel, then rewritten
    /// with each matrix quantized to the type `mix` picks for it (`storable(cols:)` where rows are not of 256),
    /// and a copy holding the dequantized values of that file as F32.
    func mixedModel(_ name: String, _ mix: (String) -> GGMLType) throws -> (path: String, f32: String) {
        var c = ModelPreset.llama32_1b.config
        c.blockCount = 2; c.embeddingLength = 256; c.feedForwardLength = 768; c.headCount = 4; c.headCountKV = 2
        c.vocabSize = 49152; c.contextLength = 128
        let src = dir + "/src.gguf"
        if !FileManager.default.fileExists(atPath: src) {
            _ = try SynthModel.write(SynthOptions(config: c, type: .q8_0, seed: 21, weightStd: 0.05), to: src)
        }
        let g = try GGUFFile(path: src)
        let out = try GGUFWriter(), f32 = try GGUFWriter()
        for k in g.metadataKeys { if let v = g.metadata[k] { try out.set(k, v); try f32.set(k, v) } }
        for t in g.tensors {
            if t.dims.count == 2 {
                let m = try g.matrix(named: t.name)
                let type = mix(t.name).storable(cols: m.cols)
                let q = try QuantizedMatrix.quantize(m.dequantized(), rows: m.rows, cols: m.cols, as: type)
                try out.addTensor(name: t.name, matrix: q)
                try f32.addTensor(name: t.name, dims: t.dims, values: q.dequantized())
            } else {
                let v = try g.floats(named: t.name)
                try out.addTensor(name: t.name, dims: t.dims, values: v)
                try f32.addTensor(name: t.name, dims: t.dims, values: v)
            }
        }
        let path = dir + "/\(name).gguf", p32 = dir + "/\(name)-f32.gguf"
        try out.write(to: path)
        try f32.write(to: p32)
        return (path, p32)
    }

    /// Q4_K_M as llama-quantize makes it: Q4_K, with Q6_K for token_embd, attn_v and ffn_down.
    static func q4KM(_ name: String) -> GGMLType {
        ["token_embd", "attn_v", "ffn_down"].contains { name.contains($0) } ? .q6_K : .q4_K
    }

    func testMixedKQuantModelEndToEnd() throws {
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        let mixes: [(String, (String) -> GGMLType)] = [
            ("q4_k_m", Self.q4KM),
            ("q5_k", { _ in .q5_K }),
            ("q5_0", { $0.contains("ffn") ? .q5_1 : .q5_0 }),
        ]
        let text = (0..<40).map { "Veloria log \($0): the ferry to Kest leaves at \($0 % 7) and returns before the tide turns." }
            .joined(separator: " ")
        let ids = try tok.encode(text, addBOS: false, parseSpecial: false)
        try Data(text.split(separator: ".").map { "{\"text\": \"\($0).\"}" }.joined(separator: "\n").utf8)
            .write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        let pool = ThreadPool(threads: 2)
        for (name, mix) in mixes {
            let (path, f32) = try mixedModel(name, mix)
            let w = try ModelWeights.load(path: path), g = try XCTUnwrap(w.gguf)
            // Blocks unchanged: every matrix a view of the file in the type it was written as.
            for (i, l) in w.layers.enumerated() {
                for (t, m) in l.matrices {
                    let info = try XCTUnwrap(g.tensorInfo(named: "blk.\(i).\(t).weight"))
                    XCTAssertEqual(m.type, info.type, "\(name) blk.\(i) \(t)")
                    XCTAssertTrue(m.storage === g.storage)
                }
            }
            XCTAssertEqual(w.tokenEmbedding.type, mix("token_embd.weight").storable(cols: 256))
            let types = Set(g.tensors.map(\.type))
            XCTAssertTrue(types.isSuperset(of: name == "q4_k_m" ? [.q4_K, .q6_K] : name == "q5_k" ? [.q5_K] : [.q5_0, .q5_1]), "\(types)")

            // The forward on the blocks equals the forward on their dequantized values stored as F32.
            let e = try Evaluator.evaluate(model: w, tokens: ids, context: 64, windows: 4, pool: pool)
            let e32 = try Evaluator.evaluate(model: try ModelWeights.load(path: f32), tokens: ids, context: 64, windows: 4, pool: pool)
            XCTAssertEqual(e.tokensScored, e32.tokensScored)
            XCTAssertEqual(e.meanLoss, e32.meanLoss, accuracy: 1e-5 * e32.meanLoss, name)

            // A few training steps lower the loss; the adapter saves and reloads.
            var cfg = TrainingConfig(lora: LoRAConfig(rank: 4, alpha: 8, targets: [.q_proj, .v_proj, .down_proj], seed: 5),
                                     learningRate: 1e-2, steps: 8, batchSize: 2, sequenceLength: 32, seed: 9, threads: 2)
            cfg.precision = .fp32
            let data = try TrainingData(path: dir + "/train.jsonl", tokenizer: tok, options: cfg.datasetOptions)
            let trainer = try LoRATrainer(model: w, config: cfg)
            var losses: [Double] = []
            try trainer.train(data) { ev in
                if case .step(let m) = ev { losses.append(m.loss) }
                return .proceed
            }
            XCTAssertEqual(losses.count, 8)
            XCTAssertTrue(losses.allSatisfy(\.isFinite), "\(losses)")
            XCTAssertLessThan(losses.suffix(3).reduce(0, +) / 3, losses.prefix(3).reduce(0, +) / 3, "\(name): \(losses)")
            let adapterDir = dir + "/\(name)-adapter"
            try trainer.parameters.savePEFT(to: adapterDir, model: w.config, baseModelName: path)
            let p = try LoRAParameters.loadPEFT(from: adapterDir, model: w.config)

            // merge --type same: every tensor keeps its block type; merged matrices change, others are copied.
            let merged = dir + "/\(name)-merged.gguf"
            let reports = try LoRAMerge.writeGGUF(model: w, adapter: p, to: merged, type: .same, pool: pool)
            XCTAssertEqual(reports.count, 3 * 2)
            let mg = try GGUFFile(path: merged)
            for t in g.tensors { XCTAssertEqual(mg.tensorInfo(named: t.name)?.type, t.type, "\(name) \(t.name)") }
            for r in reports { XCTAssertLessThan(r.relativeError, 0.1, "\(name) \(r.name)") }
            let mw = try ModelWeights.load(path: merged)
            XCTAssertEqual(mw.layers[1].down.type, w.layers[1].down.type)

            // The llama.cpp LoRA GGUF exports.
            try p.exportLlamaCppGGUF(to: dir + "/\(name)-lora.gguf", model: w.config)
            XCTAssertEqual(try GGUFFile(path: dir + "/\(name)-lora.gguf").metadata["adapter.type"]?.string, "lora")
        }
    }
}
