import Foundation
import XCTest
@testable import LoRAKit

/// The LM head's loss taken a vocabulary panel at a time (`LlamaGraph.headLossByPanels`, chosen for heads that would
/// be dequantized once per row chunk) equals the row-chunked loss: losses and LoRA gradients in fp32 and bf16,
/// training and evaluation, a tied and an untied head, ragged last panels, ignored targets; and the choice itself.
final class VocabPanelLossTests: XCTestCase {
    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-vp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func model(tied: Bool, type: GGMLType, dir: String) throws -> ModelWeights {
        let c = LlamaConfig(blockCount: 2, embeddingLength: 64, feedForwardLength: 128, headCount: 4, headCountKV: 2,
                            vocabSize: 1_000, contextLength: 64, ropeFreqBase: 10000, rmsNormEps: 1e-5, tiedEmbeddings: tied)
        let path = dir + "/m-\(tied)-\(type).gguf"
        try SynthModel.write(SynthOptions(config: c, type: type, seed: 5, weightStd: 0.2), to: path)
        return try ModelWeights.load(path: path)
    }

    func testPanelsEqualRowChunks() throws {
        let dir = try tempDir()
        let pool = ThreadPool(threads: 2)
        for (tied, type) in [(false, GGMLType.q4_0), (true, GGMLType.q4_1)] {
            let w = try model(tied: tied, type: type, dir: dir)
            var lora = try LoRAParameters(config: LoRAConfig(rank: 4, alpha: 8, targets: LoRATarget.allCases, seed: 3),
                                          model: w.config)
            let noise = SplitMix64.uniformSymmetric(seed: 99, count: lora.count)
            for s in lora.slots { for j in 0..<(s.outFeatures * 4) { lora.values[s.bOffset + j] = noise[s.bOffset + j] * 0.3 } }  // B ≠ 0
            let B = 2, S = 24, T = B * S
            var rng = SplitMix64(seed: 11)
            let tokens = (0..<T).map { _ in Int32(rng.next() % 1_000) }
            var targets = (0..<T).map { _ in Int32(rng.next() % 1_000) }
            targets[3] = -100; targets[30] = 999; targets[31] = 0
            // 4 rows per chunk: 12 chunks; panels of min(4·1000/48, 128) / 64 · 64 = 64 rows, the last 40.
            let g = LlamaGraph(weights: w, lora: lora, batch: B, sequence: S, training: true, checkpointing: true, pool: pool,
                               logitChunkBytes: 4 * 1_000 * 4)
            g.setBatch(tokens: tokens, targets: targets)
            XCTAssertEqual(g.vocabPanelRows(backward: true), 64)
            var fp32Grads: [Float] = []
            for precision in [ComputePrecision.fp32] + (ComputePrecision.bf16IsNative ? [.bf16] : []) {
                g.precision = precision
                func pass(_ panels: Bool, backward: Bool) -> (LlamaGraph.LossSum, [Float], [Float]) {
                    g.forceVocabPanels = panels
                    g.grads.zero()
                    let l = g.run(backward: backward, gradScale: 0.5)
                    return (l, g.buffers.losses.array(T), g.grads.array())
                }
                for backward in [true, false] {
                    let (lc, lossesC, gradsC) = pass(false, backward: backward)
                    let (lp, lossesP, gradsP) = pass(true, backward: backward)
                    let tag = "tied \(tied) \(type) \(precision) backward \(backward)"
                    XCTAssertEqual(lp.count, T - 1, tag)
                    XCTAssertEqual(lc.count, lp.count, tag)
                    XCTAssertEqual(lp.sum, lc.sum, accuracy: 1e-5 * abs(lc.sum), tag)
                    for t in 0..<T { XCTAssertEqual(lossesP[t], lossesC[t], accuracy: 2e-5 * max(1, abs(lossesC[t])), "\(tag) t=\(t)") }
                    XCTAssertEqual(lossesP[3], 0, tag)
                    if backward {
                        let scale = gradsC.map { abs($0) }.max()!
                        XCTAssertGreaterThan(scale, 0, tag)
                        let err = zip(gradsP, gradsC).map { abs($0 - $1) }.max()!
                        if precision == .fp32 {
                            fp32Grads = gradsC
                            XCTAssertLessThanOrEqual(err, 1e-4 * scale, tag)
                        } else {
                            // bf16 rounds the head's operands per product, so the two orders differ by that rounding:
                            // the panels must be as close to fp32 as the chunks are.
                            let ec = zip(gradsC, fp32Grads).map { abs($0 - $1) }.max()!
                            let ep = zip(gradsP, fp32Grads).map { abs($0 - $1) }.max()!
                            XCTAssertLessThanOrEqual(ep, 1.25 * ec + 1e-3 * scale, tag)
                        }
                    }
                }
            }
        }
    }

    /// Panels are chosen only where the row chunks would multiply an unpacked head many times.
    func testChoice() throws {
        let dir = try tempDir()
        let w = try model(tied: false, type: .q8_0, dir: dir)
        let lora = try LoRAParameters(config: LoRAConfig(rank: 4, alpha: 8, targets: [.q_proj, .v_proj], seed: 3), model: w.config)
        let pool = ThreadPool(threads: 1)
        // One chunk covers every row: row chunks.
        let one = LlamaGraph(weights: w, lora: lora, batch: 1, sequence: 16, training: true, checkpointing: true, pool: pool)
        XCTAssertNil(one.vocabPanelRows(backward: true))
        // 8 chunks: panels when training (≥ 4 chunks) and when scoring (≥ 2).
        let many = LlamaGraph(weights: w, lora: lora, batch: 1, sequence: 16, training: true, checkpointing: true, pool: pool,
                              logitChunkBytes: 2 * 1_000 * 4)
        XCTAssertEqual(many.vocabPanelRows(backward: true), 64)
        XCTAssertEqual(many.vocabPanelRows(backward: false), 64)
        // 3 chunks: panels only without backward.
        let three = LlamaGraph(weights: w, lora: lora, batch: 1, sequence: 16, training: true, checkpointing: true, pool: pool,
                               logitChunkBytes: 6 * 1_000 * 4)
        XCTAssertNil(three.vocabPanelRows(backward: true))
        XCTAssertNotNil(three.vocabPanelRows(backward: false))
        // A head packed once for bf16 (training without checkpointing): row chunks.
        if ComputePrecision.bf16IsNative {
            let packed = LlamaGraph(weights: w, lora: lora, batch: 1, sequence: 16, training: true, checkpointing: false,
                                    pool: pool, logitChunkBytes: 2 * 1_000 * 4)
            packed.precision = ComputePrecision.bf16
            XCTAssertFalse(packed.bf16Head.isEmpty)
            XCTAssertNil(packed.vocabPanelRows(backward: true))
            packed.precision = ComputePrecision.fp32
            XCTAssertEqual(packed.vocabPanelRows(backward: true), 64)
        }
    }
}
