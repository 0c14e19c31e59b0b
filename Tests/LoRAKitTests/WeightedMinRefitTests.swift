import Foundation
import XCTest
@testable import LoRAKit

/// The calibration-weighted in-place Q4_K/Q5_K min refit (`WeightedMinRefit`): lower eᵀHe than the unweighted refit
/// for a correlated H, the unweighted result for H = I, valid blocks (only dmin and the mins change), and the
/// calibration pass (`MergeCalibration`) with its errors.
final class WeightedMinRefitTests: XCTestCase {
    let rows = 24, cols = 512

    /// A random K-quant base (offsets of both signs, so mins and dmin are all in use) and a group-level change of
    /// about one min step.
    func base(_ type: GGMLType) throws -> (QuantizedMatrix, [Float]) {
        let w = SplitMix64.uniformSymmetric(seed: 11, count: rows * cols).map { $0 * 0.1 + 0.03 }
        let q = try QuantizedMatrix.quantize(w, rows: rows, cols: cols, as: type)
        let delta = SplitMix64.uniformSymmetric(seed: 12, count: rows * cols / 32).map { $0 * 0.002 }
        return (q, delta)
    }

    /// A correlated H = E[s sᵀ] from 400 random group-sum vectors with a shared mean, mixed neighbours and group
    /// scales from e⁻² to e² (as real inputs, where a few groups carry most of the activation).
    func correlatedMoments(_ G: Int) -> [Double] {
        let n = 400
        let z = SplitMix64.uniformSymmetric(seed: 13, count: n * G)
        let mean = SplitMix64.uniformSymmetric(seed: 14, count: G).map { 1 + 0.5 * $0 }
        let scale = SplitMix64.uniformSymmetric(seed: 15, count: G).map { exp(2 * Double($0)) }
        var H = [Double](repeating: 0, count: G * G)
        for t in 0..<n {
            let s = (0..<G).map { g -> Double in
                let v = Double(mean[g]) + Double(z[t * G + g]) + 0.7 * Double(z[t * G + (g + 1) % G])
                return scale[g] * v
            }
            for i in 0..<G { for j in 0..<G { H[i * G + j] += s[i] * s[j] / Double(n) } }
        }
        return H
    }

    /// eᵀHe per row, e_g = the merged matrix minus (W0 + Δ) at each group's first column.
    func offsetError(_ b: QuantizedMatrix, _ m: QuantizedMatrix, _ delta: [Float], _ H: [Double]) -> [Double] {
        let bd = b.dequantized(), md = m.dequantized(), G = cols / 32
        return (0..<rows).map { r in
            let e = (0..<G).map { g in Double(md[r * cols + g * 32]) - Double(bd[r * cols + g * 32]) - Double(delta[r * G + g]) }
            var t = 0.0
            for i in 0..<G { for j in 0..<G { t += e[i] * H[i * G + j] * e[j] } }
            return t
        }
    }

    func testWeightedRefitLowersOutputErrorAndKeepsBlocksValid() throws {
        for type in [GGMLType.q4_K, .q5_K] {
            let (b, delta) = try base(type)
            let G = cols / 32, H = correlatedMoments(G)
            let plain = try XCTUnwrap(QuantOffsetMerge.merge(b, delta: delta))
            let weighted = try XCTUnwrap(QuantOffsetMerge.merge(b, delta: delta, groupMoments: H))
            let p = offsetError(b, plain, delta, H), w = offsetError(b, weighted, delta, H)
            let pt = p.reduce(0, +), wt = w.reduce(0, +)
            print("\(type): Σ eᵀHe unweighted \(pt), weighted \(wt) (1/\(pt / wt))")
            for r in 0..<rows { XCTAssertLessThanOrEqual(w[r], p[r] * (1 + 1e-9), "\(type) row \(r)") }
            XCTAssertLessThan(wt, 0.5 * pt, "\(type)")
            // Valid blocks: d, the scales and every code are the base's; only dmin and the 6-bit mins changed, and the
            // change stays constant over each group (the dequantized difference of every column equals its group's).
            let bs = type.blockBytes, scalesEnd = 16, nb = b.byteCount / bs
            let bb = UnsafeRawBufferPointer(start: b.storage.base, count: b.byteCount)
            let mb = UnsafeRawBufferPointer(start: weighted.storage.base, count: weighted.byteCount)
            for k in 0..<nb {
                XCTAssertEqual(Array(bb[(k * bs)..<(k * bs + 2)]), Array(mb[(k * bs)..<(k * bs + 2)]), "d of block \(k)")
                XCTAssertEqual(Array(bb[(k * bs + scalesEnd)..<((k + 1) * bs)]), Array(mb[(k * bs + scalesEnd)..<((k + 1) * bs)]))
                let p1 = UnsafeMutableRawPointer(mutating: bb.baseAddress! + k * bs + 4)
                let p2 = UnsafeMutableRawPointer(mutating: mb.baseAddress! + k * bs + 4)
                for j in 0..<8 { XCTAssertEqual(QuantOffsetMerge.scaleMin(j, p1).0, QuantOffsetMerge.scaleMin(j, p2).0) }
                XCTAssertTrue(QuantOffsetMerge.half(mb.baseAddress! + k * bs + 2).isFinite)
            }
            let bd = b.dequantized(), md = weighted.dequantized()
            for r in 0..<rows {
                for g in 0..<G {
                    let i0 = r * cols + g * 32, c0 = md[i0] - bd[i0]
                    for c in 1..<32 {
                        XCTAssertEqual(md[i0 + c] - bd[i0 + c], c0, accuracy: 1e-6 + 1e-5 * abs(bd[i0 + c]), "\(type) row \(r) group \(g)")
                    }
                }
            }
        }
    }

    func testIdentityMomentsGiveTheUnweightedRefit() throws {
        for type in [GGMLType.q4_K, .q5_K] {
            let (b, delta) = try base(type)
            let G = cols / 32
            var I = [Double](repeating: 0, count: G * G)
            for g in 0..<G { I[g * G + g] = 1 }
            let plain = try XCTUnwrap(QuantOffsetMerge.merge(b, delta: delta))
            let weighted = try XCTUnwrap(QuantOffsetMerge.merge(b, delta: delta, groupMoments: I))
            XCTAssertEqual(Data(bytes: plain.storage.base, count: plain.byteCount),
                           Data(bytes: weighted.storage.base, count: weighted.byteCount), "\(type)")
        }
    }

    func testBadMomentsAreRefused() throws {
        let (b, delta) = try base(.q4_K)
        let G = cols / 32
        XCTAssertNil(QuantOffsetMerge.merge(b, delta: delta, groupMoments: [1, 0, 0, 1]))
        var nan = [Double](repeating: 0, count: G * G)
        for g in 0..<G { nan[g * G + g] = g == 3 ? .nan : 1 }
        XCTAssertNil(QuantOffsetMerge.merge(b, delta: delta, groupMoments: nan))
        // Moments only matter to the in-place K refit: the exact Q4_1 transcode ignores them.
        XCTAssertNotNil(QuantOffsetMerge.merge(b, delta: delta, as: .q4_1, groupMoments: [1]))
    }

    /// A 2-layer synthetic Llama whose down_proj is Q4_K (ffn 256 wide: whole super-blocks; written as Q4_1, then
    /// down_proj merged with a zero adapter into Q4_K) and a quant-aware adapter on down_proj.
    func kModel(dir: String) throws -> (ModelWeights, LoRAParameters) {
        let c = LlamaConfig(blockCount: 2, embeddingLength: 64, feedForwardLength: 256, headCount: 4, headCountKV: 2,
                            vocabSize: 50, contextLength: 64, ropeFreqBase: 10000, rmsNormEps: 1e-5, tiedEmbeddings: false)
        _ = try SynthModel.write(SynthOptions(config: c, type: .q4_1, seed: 5, weightStd: 0.05), to: dir + "/m41.gguf")
        let m41 = try ModelWeights.load(path: dir + "/m41.gguf")
        let zero = try LoRAParameters(config: LoRAConfig(rank: 2, alpha: 2, targets: [.down_proj], seed: 1), model: c)
        try LoRAMerge.writeGGUF(model: m41, adapter: zero, to: dir + "/m.gguf", type: .type(.q4_K), pool: ThreadPool(threads: 1))
        let m = try ModelWeights.load(path: dir + "/m.gguf")
        XCTAssertEqual(m.layers[0].down.type, .q4_K)
        var cfg = LoRAConfig(rank: 2, alpha: 2, targets: [.down_proj], seed: 3)
        cfg.quantAware = true
        var p = try LoRAParameters(config: cfg, model: m.config)
        let noise = SplitMix64.uniformSymmetric(seed: 99, count: p.count)
        for s in p.slots { for j in 0..<(s.outFeatures * 2) { p.values[s.bOffset + j] = noise[s.bOffset + j] * 0.3 } }
        return (m, p)
    }

    func testCalibrationMomentsAndMerge() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-wmr-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (m, p) = try kModel(dir: dir)
        let pool = ThreadPool(threads: 2)
        let examples = (0..<5).map { i in (0..<(8 + i)).map { Int32(($0 * 7 + i) % 50) } }
        var calls = 0
        let cal = try MergeCalibration.measure(model: m, adapter: p, sequences: examples, source: "test", maxSequences: 4,
                                               pool: pool) { _, _ in calls += 1 }
        XCTAssertEqual(calls, 4)
        XCTAssertEqual(cal.sequences, 4)
        XCTAssertEqual(cal.tokens, 8 + 9 + 10 + 11)
        XCTAssertEqual(Set(cal.moments.keys), ["blk.0.ffn_down.weight", "blk.1.ffn_down.weight"])
        let H = try XCTUnwrap(cal.moments["blk.1.ffn_down.weight"])
        let G = 256 / 32
        XCTAssertEqual(H.count, G * G)
        for i in 0..<G {
            XCTAssertGreaterThan(H[i * G + i], 0)
            for j in 0..<G { XCTAssertEqual(H[i * G + j], H[j * G + i], accuracy: 1e-12 * max(1, abs(H[i * G + j]))) }
        }
        // One sequence: the moments equal Σ_t s_t s_tᵀ / T of layer 0's down_proj input from the graph's own forward.
        let single = try MergeCalibration.measure(model: m, adapter: p, sequences: [examples[0]], source: "test", pool: pool)
        let graph = LlamaGraph(weights: m, lora: p, batch: 1, sequence: 8, training: true, checkpointing: false, pool: pool)
        graph.setBatch(tokens: examples[0], targets: [Int32](repeating: -1, count: 8))
        graph.forwardHidden()
        let x = graph.activations(0).h.ptr
        var ref = [Double](repeating: 0, count: G * G)
        for t in 0..<8 {
            let s = (0..<G).map { g in (0..<32).reduce(0.0) { $0 + Double(x[t * 256 + g * 32 + $1]) } }
            for i in 0..<G { for j in 0..<G { ref[i * G + j] += s[i] * s[j] / 8 } }
        }
        let got = try XCTUnwrap(single.moments["blk.0.ffn_down.weight"])
        for i in ref.indices { XCTAssertEqual(got[i], ref[i], accuracy: 1e-5 * max(1, abs(ref[i]))) }   // fp32 product
        // The merge takes them: in place (same type, same size) and different from the unweighted refit.
        let a = dir + "/a.gguf", b = dir + "/b.gguf"
        let ra = try LoRAMerge.writeGGUF(model: m, adapter: p, to: a, type: .same, pool: pool)
        let rb = try LoRAMerge.writeGGUF(model: m, adapter: p, to: b, type: .same, calibration: cal, pool: pool)
        XCTAssertTrue(rb.allSatisfy { $0.offsets && $0.type == "Q4_K" }, "\(rb)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: a)).count, try Data(contentsOf: URL(fileURLWithPath: b)).count)
        print("survived unweighted \(LoRAMerge.overallSurvival(ra) ?? .nan), weighted \(LoRAMerge.overallSurvival(rb) ?? .nan)")
        // Errors: a plain adapter, no example, zero sequences.
        var plainCfg = p.config
        plainCfg.quantAware = false
        var plain = try LoRAParameters(config: plainCfg, model: m.config)
        plain.values = SplitMix64.uniformSymmetric(seed: 4, count: plain.count)
        XCTAssertThrowsError(try MergeCalibration.measure(model: m, adapter: plain, sequences: examples, source: "test", pool: pool)) {
            XCTAssertEqual($0 as? MergeError, .calibrationNeedsQuantAware)
        }
        XCTAssertThrowsError(try MergeCalibration.measure(model: m, adapter: p, sequences: [], source: "test", pool: pool)) {
            XCTAssertEqual($0 as? MergeError, .emptyCalibration(path: "test"))
        }
        XCTAssertThrowsError(try MergeCalibration.measure(model: m, adapter: p, sequences: examples, source: "test", maxSequences: 0, pool: pool)) {
            XCTAssertEqual($0 as? MergeError, .calibrationSequences(0))
        }
    }
}
