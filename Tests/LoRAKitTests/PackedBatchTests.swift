import Foundation
import XCTest
@testable import LoRAKit

/// Packing keeps examples apart: in a packed batch (positions restarting per example, attention inside each
/// example) every example has the per-token losses and LoRA gradients it has alone in an unpacked batch.
final class PackedBatchTests: XCTestCase {
    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-pack-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// Tiny random model, every target adapted with nonzero B (so every factor gets a gradient).
    func modelAndAdapter() throws -> (ModelWeights, LoRAParameters) {
        let model = try LoRAGradientCheckTests.tinyModel(dir: try tempDir())
        var p = try LoRAParameters(config: LoRAConfig(rank: 3, alpha: 5, targets: LoRATarget.allCases, seed: 3), model: model.config)
        let noise = SplitMix64.uniformSymmetric(seed: 99, count: p.count)
        for s in p.slots { for j in 0..<(s.outFeatures * 3) { p.values[s.bOffset + j] = noise[s.bOffset + j] * 0.3 } }
        return (model, p)
    }

    /// ‖a − b‖ / max(‖b‖, tiny).
    func relErr(_ a: [Float], _ b: [Float]) -> Double {
        var d = 0.0, n = 0.0
        for (x, y) in zip(a, b) { d += Double(x - y) * Double(x - y); n += Double(y) * Double(y) }
        return (d / max(n, 1e-30)).squareRoot()
    }

    struct Example { var row: Int, start: Int, tokens: [Int32] }

    func testPackedExamplesHaveTheirAloneLossAndGradients() throws {
        let (model, p) = try modelAndAdapter()
        let B = 2, S = 16, V = Int32(model.config.vocabSize)
        // Row 0: examples of 5, 7 and 4 tokens; row 1: 9 and 6 tokens, then one padding token.
        var rng = SplitMix64(seed: 5)
        var examples: [Example] = []
        for (row, lengths) in [(0, [5, 7, 4]), (1, [9, 6])] {
            var start = 0
            for n in lengths {
                examples.append(Example(row: row, start: start, tokens: (0..<n).map { _ in Int32(rng.next() % UInt64(V)) }))
                start += n
            }
        }
        var tokens = [Int32](repeating: 0, count: B * S)
        var positions = (0..<(B * S)).map { Int32($0 % S) }
        for e in examples {
            for (i, t) in e.tokens.enumerated() {
                tokens[e.row * S + e.start + i] = t
                positions[e.row * S + e.start + i] = Int32(i)
            }
        }
        positions[S + 15] = 0   // the padding token: a segment of its own
        let pool = ThreadPool(threads: 2)
        for checkpointing in [false, true] {
            let packed = LlamaGraph(weights: model, lora: p, batch: B, sequence: S, training: true,
                                    checkpointing: checkpointing, pool: pool)
            for e in examples {
                // Packed: only this example's next tokens are scored.
                var targets = [Int32](repeating: -1, count: B * S)
                for i in 0..<(e.tokens.count - 1) { targets[e.row * S + e.start + i] = e.tokens[i + 1] }
                packed.setBatch(tokens: tokens, targets: targets, positions: positions)
                packed.grads.zero()
                let lp = packed.run(backward: true, gradScale: 1)
                let packedLosses = packed.buffers.losses.array(e.tokens.count - 1, offset: e.row * S + e.start)
                let packedGrads = packed.grads.array()

                let n = e.tokens.count
                let alone = LlamaGraph(weights: model, lora: p, batch: 1, sequence: n, training: true,
                                       checkpointing: checkpointing, pool: pool)
                alone.setBatch(tokens: e.tokens, targets: Array(e.tokens.dropFirst()) + [-1])
                let la = alone.run(backward: true, gradScale: 1)
                let tag = "row \(e.row) start \(e.start) checkpointing \(checkpointing)"
                XCTAssertEqual(lp.count, la.count, tag)
                XCTAssertLessThanOrEqual(relErr(packedLosses, alone.buffers.losses.array(n - 1)), 1e-5, "losses \(tag)")
                XCTAssertEqual(lp.sum, la.sum, accuracy: 1e-5 * abs(la.sum), "loss \(tag)")
                XCTAssertLessThanOrEqual(relErr(packedGrads, alone.grads.array()), 1e-5, "grads \(tag)")
                if e.start > 0 {
                    // Control: without positions the example sees its neighbours and its loss changes.
                    packed.setBatch(tokens: tokens, targets: targets)
                    _ = packed.run(backward: false, gradScale: 0)
                    let mixed = packed.buffers.losses.array(e.tokens.count - 1, offset: e.row * S + e.start)
                    XCTAssertGreaterThan(relErr(mixed, alone.buffers.losses.array(n - 1)), 1e-3, "control \(tag)")
                }
            }
        }
    }

    /// Positions 0..<S in every row (no segment breaks) are the unpacked batch, bitwise.
    func testPlainPositionsAreTheUnpackedPathBitwise() throws {
        let (model, p) = try modelAndAdapter()
        let B = 2, S = 9
        let tokens = (0..<(B * S)).map { Int32(($0 * 7 + 3) % 40) }
        let targets = (0..<(B * S)).map { Int32(($0 * 11 + 5) % 40) }
        let g = LlamaGraph(weights: model, lora: p, batch: B, sequence: S, training: true, checkpointing: false,
                           pool: ThreadPool(threads: 2))
        g.setBatch(tokens: tokens, targets: targets)
        let a = g.run(backward: true, gradScale: 1), ga = g.grads.array()
        g.grads.zero()
        g.setBatch(tokens: tokens, targets: targets, positions: (0..<(B * S)).map { Int32($0 % S) })
        let b = g.run(backward: true, gradScale: 1)
        XCTAssertEqual(a.sum, b.sum)
        XCTAssertEqual(ga, g.grads.array())
    }
}
