import Foundation
import XCTest
@testable import LoRAKit

/// LoRA gradients of a tiny random Llama (2 layers, GQA, F32 weights, every target adapted)
/// against central finite differences of the loss, with and without dropout and checkpointing.
final class LoRAGradientCheckTests: XCTestCase {
    /// Writes a tiny random Llama GGUF (dim 32, 4 heads / 2 kv heads, ffn 48, vocab 40, untied).
    static func tinyModel(dir: String, type: GGMLType = .f32, seed: UInt64 = 11) throws -> ModelWeights {
        let dim = 32, heads = 4, kv = 2, hd = 8, ffn = 48, vocab = 40, L = 2
        let w = try GGUFWriter()
        try w.set("general.architecture", .string("llama"))
        for (k, v) in [("block_count", GGUFValue.uint32(UInt32(L))), ("embedding_length", .uint32(UInt32(dim))),
                       ("feed_forward_length", .uint32(UInt32(ffn))), ("attention.head_count", .uint32(UInt32(heads))),
                       ("attention.head_count_kv", .uint32(UInt32(kv))), ("context_length", .uint32(64)),
                       ("rope.freq_base", .float32(10000)), ("attention.layer_norm_rms_epsilon", .float32(1e-5)),
                       ("vocab_size", .uint32(UInt32(vocab)))] {
            try w.set("llama.\(k)", v)
        }
        var s = seed
        func add(_ name: String, _ dims: [Int], scale: Float, offset: Float = 0) throws {
            s &+= 1
            let vals = SplitMix64.uniformSymmetric(seed: s, count: dims.reduce(1, *)).map { $0 * scale + offset }
            if type == .f32 || dims.count == 1 {
                try w.addTensor(name: name, dims: dims, values: vals)
            } else {
                try w.addTensor(name: name, matrix: try QuantizedMatrix.quantize(vals, rows: dims[1], cols: dims[0], as: type))
            }
        }
        try add("token_embd.weight", [dim, vocab], scale: 1)
        try add("output.weight", [dim, vocab], scale: 0.3)
        try add("output_norm.weight", [dim], scale: 0.2, offset: 1)
        for l in 0..<L {
            try add("blk.\(l).attn_norm.weight", [dim], scale: 0.2, offset: 1)
            try add("blk.\(l).ffn_norm.weight", [dim], scale: 0.2, offset: 1)
            try add("blk.\(l).attn_q.weight", [dim, heads * hd], scale: 0.3)
            try add("blk.\(l).attn_k.weight", [dim, kv * hd], scale: 0.3)
            try add("blk.\(l).attn_v.weight", [dim, kv * hd], scale: 0.3)
            try add("blk.\(l).attn_output.weight", [dim, dim], scale: 0.3)
            try add("blk.\(l).ffn_gate.weight", [dim, ffn], scale: 0.3)
            try add("blk.\(l).ffn_up.weight", [dim, ffn], scale: 0.3)
            try add("blk.\(l).ffn_down.weight", [ffn, dim], scale: 0.3)
        }
        let path = dir + "/tiny-llama-\(seed).gguf"
        try w.write(to: path)
        return try ModelWeights.load(path: path)
    }

    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-fd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func check(dropout: Float, checkpointing: Bool, rsLoRA: Bool) throws {
        let model = try Self.tinyModel(dir: try tempDir())
        var p = try LoRAParameters(config: LoRAConfig(rank: 3, alpha: 5, dropout: dropout, useRSLoRA: rsLoRA,
                                                      targets: LoRATarget.allCases, seed: 3), model: model.config)
        // Nonzero B so every factor gets a gradient.
        let noise = SplitMix64.uniformSymmetric(seed: 99, count: p.count)
        for s in p.slots { for j in 0..<(s.outFeatures * 3) { p.values[s.bOffset + j] = noise[s.bOffset + j] * 0.3 } }
        let B = 2, S = 7
        let tokens = (0..<(B * S)).map { Int32(($0 * 7 + 3) % 40) }
        var targets = (0..<(B * S)).map { Int32(($0 * 11 + 5) % 40) }
        targets[0] = -1; targets[9] = -1
        let n = targets.filter { $0 >= 0 }.count
        let g = LlamaGraph(weights: model, lora: p, batch: B, sequence: S, training: true, checkpointing: checkpointing,
                           pool: ThreadPool(threads: 2))
        g.setBatch(tokens: tokens, targets: targets)
        g.dropoutSeed = 1234
        g.grads.zero()
        _ = g.run(backward: true, gradScale: 1 / Float(n))
        let analytic = g.grads.array()
        func loss() -> Double { g.run(backward: false, gradScale: 0, dropout: true).mean }   // the same masks as the gradient pass
        // Central differences on a spread of A and B entries of every slot.
        var worst = 0.0
        var checked = 0
        for s in p.slots {
            for off in [s.aOffset, s.aOffset + 5, s.bOffset + 1, s.bOffset + 3 * s.outFeatures - 2] {
                let orig = g.params.ptr[off]
                let eps: Float = 1e-2
                g.params.ptr[off] = orig + eps; let lp = loss()
                g.params.ptr[off] = orig - eps; let lm = loss()
                g.params.ptr[off] = orig
                let fd = (lp - lm) / Double(2 * eps)
                let err = abs(fd - Double(analytic[off])) / max(abs(fd), 1e-3)
                worst = max(worst, err)
                checked += 1
                XCTAssertLessThan(err, 2e-2, "slot \(s.layer).\(s.target) offset \(off): fd \(fd) analytic \(analytic[off])")
            }
        }
        XCTAssertEqual(checked, 2 * 7 * 4)
        print("LoRA finite-difference check (dropout \(dropout), checkpointing \(checkpointing)): worst relative error \(worst)")
    }

    func testGradientsMatchFiniteDifferences() throws { try check(dropout: 0, checkpointing: false, rsLoRA: false) }
    func testGradientsWithDropoutAndCheckpointing() throws { try check(dropout: 0.25, checkpointing: true, rsLoRA: true) }
}
