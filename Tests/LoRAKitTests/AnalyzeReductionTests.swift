import Foundation
import XCTest
@testable import LoRAKit

final class AnalyzeReductionTests: XCTestCase {
    /// An update of exact rank K (B = B0·M with B0 [out, K]) is reproduced by its rank-K reduction.
    func testExactRankKIsReproduced() throws {
        for (rs, k) in [(false, 3), (true, 2)] {
            let (out, inF, r) = (45, 33, 8)
            let b0 = DenseRef.random(out * k, seed: 11), mix = DenseRef.random(k * r, seed: 12)
            var b = [Float](repeating: 0, count: out * r)
            for i in 0..<out { for j in 0..<r { for t in 0..<k { b[i * r + j] += b0[i * k + t] * mix[t * r + j] } } }
            let a = DenseRef.random(r * inF, seed: 13)
            let f = AdapterFactors(rank: r, alpha: 12, useRSLoRA: rs, matrices: [
                AdapterMatrix(layer: 1, target: .down_proj, outFeatures: out, inFeatures: inF, a: a, b: b),
            ])
            let (red, loss) = try f.reduced(toRank: k)
            XCTAssertEqual(red.rank, k)
            // Same scale: alpha' = scale·K (or scale·√K with rsLoRA).
            XCTAssertEqual(red.scale, f.scale, accuracy: 1e-6 * f.scale)
            XCTAssertEqual(red.alpha, rs ? f.scale * Float(k).squareRoot() : f.scale * Float(k), accuracy: 1e-5)
            let w = DenseRef.product(b, a, out: out, in: inF, rank: r, scale: f.scale)
            let m = red.matrices[0]
            let wk = DenseRef.product(m.b, m.a, out: out, in: inF, rank: k, scale: red.scale)
            let maxW = w.map(abs).max()!
            let err = zip(w, wk).map { abs($0 - $1) }.max()! / maxW
            XCTAssertLessThanOrEqual(err, 1e-5, "rsLoRA \(rs): rank-\(k) reduction differs from ΔW by \(err)")
            XCTAssertLessThan(loss[0].discardedShare, 1e-10)
            print("AnalyzeReductionTests: exact rank \(k) (rsLoRA \(rs)) reproduced to max rel err \(err)")
        }
    }

    /// ‖ΔW − ΔW_K‖_F² of the written factors equals the discarded energy Σ_{i>K} σ_i² (Eckart–Young),
    /// which also matches the dense Jacobi spectrum.
    func testReductionErrorIsDiscardedEnergy() throws {
        let (out, inF, r) = (52, 40, 10)
        let b = DenseRef.random(out * r, seed: 21), a = DenseRef.random(r * inF, seed: 22)
        let f = AdapterFactors(rank: r, alpha: 20, useRSLoRA: false, matrices: [
            AdapterMatrix(layer: 0, target: .q_proj, outFeatures: out, inFeatures: inF, a: a, b: b),
        ])
        let w = DenseRef.product(b, a, out: out, in: inF, rank: r, scale: f.scale)
        let dense = DenseRef.singularValues(w, rows: out, cols: inF)
        for k in [1, 4, 7, 10] {
            let (red, loss) = try f.reduced(toRank: k)
            let m = red.matrices[0]
            let wk = DenseRef.product(m.b, m.a, out: out, in: inF, rank: k, scale: red.scale)
            let err2 = zip(w, wk).reduce(0.0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            let discarded = dense[k...].reduce(0.0) { $0 + $1 * $1 }
            let total = dense.reduce(0.0) { $0 + $1 * $1 }
            XCTAssertEqual(loss[0].discardedEnergy, discarded, accuracy: 1e-9 * total)
            // Factors are stored in fp32: allow their rounding relative to the whole update.
            XCTAssertEqual(err2, discarded, accuracy: 1e-6 * total, "K=\(k)")
            if k < r { XCTAssertEqual(err2 / discarded, 1, accuracy: 1e-4, "K=\(k)") }
            print("AnalyzeReductionTests: K=\(k) ‖ΔW−ΔW_K‖² = \(err2), discarded Σσ² = \(discarded)")
        }
        XCTAssertThrowsError(try f.reduced(toRank: 0))
        XCTAssertThrowsError(try f.reduced(toRank: r + 1))
    }

    /// A reduced adapter written as PEFT loads back (with and without a model) with the top-K spectrum.
    func testSaveLoadRoundTrip() throws {
        let model = AdapterFixtures.tiny
        var p = try AdapterFixtures.random(LoRAConfig(rank: 6, alpha: 7, useRSLoRA: true, targets: [.q_proj, .k_proj, .down_proj]), model)
        for i in p.values.indices { p.values[i] *= 0.1 }
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("analyze-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try p.savePEFT(to: tmp + "/orig", model: model, baseModelName: "tiny")
        let f = try AdapterFactors.loadPEFT(from: tmp + "/orig")
        XCTAssertEqual(f.matrices.count, 9)
        XCTAssertEqual(f.rank, 6)
        let fromParams = try AdapterFactors(parameters: p).spectra()
        let fromFile = try f.spectra()
        for (x, y) in zip(fromParams, fromFile) {
            XCTAssertEqual(x.name, y.name)
            for (s, t) in zip(x.singularValues, y.singularValues) { XCTAssertEqual(s, t, accuracy: 1e-9 * x.singularValues[0]) }
        }
        let (red, _) = try f.reduced(toRank: 3)
        try red.savePEFT(to: tmp + "/r3")
        let back = try LoRAParameters.loadPEFT(from: tmp + "/r3", model: model)
        XCTAssertEqual(back.config.rank, 3)
        XCTAssertTrue(back.config.useRSLoRA)
        XCTAssertEqual(back.config.scale, p.config.scale, accuracy: 1e-6 * p.config.scale)
        let reloaded = try AdapterFactors(parameters: back).spectra()
        for (x, y) in zip(fromFile, reloaded) {
            XCTAssertEqual(y.singularValues.count, 3)
            for i in 0..<3 { XCTAssertEqual(y.singularValues[i], x.singularValues[i], accuracy: 1e-5 * x.singularValues[0], x.name) }
        }
        // Without a source config, a minimal one is written.
        var bare = red
        bare.configJSON = nil
        try bare.savePEFT(to: tmp + "/bare", baseModelName: "tiny")
        XCTAssertEqual(try LoRAParameters.loadPEFT(from: tmp + "/bare", model: model).config.rank, 3)
    }

    /// Broken inputs throw errors naming the matrix or tensor.
    func testErrors() throws {
        XCTAssertThrowsError(try LowRankSVD.decompose(b: [Float](repeating: 1, count: 6), a: [Float](repeating: 1, count: 15),
                                                      out: 2, in: 5, rank: 3, scale: 1, vectors: false, name: "layers.0.q_proj")) {
            XCTAssertTrue("\($0)".contains("layers.0.q_proj"), "\($0)")
        }
        XCTAssertThrowsError(try LowRankSVD.decompose(b: [1, 2], a: [1, 2], out: 2, in: 2, rank: 1, scale: -1, vectors: false, name: "m"))
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("analyze-bad-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try #"{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}"#.write(toFile: tmp + "/adapter_config.json", atomically: false, encoding: .utf8)
        let w = SafetensorsWriter()
        try w.add(name: PEFTAdapter.key(layer: 0, target: .q_proj, isB: false), shape: [2, 8], values: DenseRef.random(16, seed: 3))
        try w.write(to: tmp + "/adapter_model.safetensors")
        XCTAssertThrowsError(try AdapterFactors.loadPEFT(from: tmp)) { XCTAssertTrue("\($0)".contains("lora_B"), "\($0)") }
        let w2 = SafetensorsWriter()
        try w2.add(name: PEFTAdapter.key(layer: 0, target: .q_proj, isB: false), shape: [3, 8], values: DenseRef.random(24, seed: 3))
        try w2.add(name: PEFTAdapter.key(layer: 0, target: .q_proj, isB: true), shape: [8, 3], values: DenseRef.random(24, seed: 4))
        try w2.write(to: tmp + "/adapter_model.safetensors")
        XCTAssertThrowsError(try AdapterFactors.loadPEFT(from: tmp)) { XCTAssertTrue("\($0)".contains("rank r=2"), "\($0)") }
    }

    /// The real PEFT fixture adapter (SmolLM2, r=4 on q/k/v/o): 120 matrices with sensible numbers.
    func testFixtureAdapter() throws {
        let f = try AdapterFactors.loadPEFT(from: AdapterFixtures.adapter)
        XCTAssertEqual(f.rank, 4)
        XCTAssertEqual(f.matrices.count, 120)
        let s = try f.spectra()
        let a = AdapterAnalysis(adapter: "fixture", factors: f, spectra: s)
        XCTAssertEqual(a.modules.map(\.module), ["q_proj", "k_proj", "v_proj", "o_proj"])
        for m in s {
            XCTAssertEqual(m.singularValues.count, 4)
            XCTAssertEqual(m.energyShare.last!, 1, accuracy: 1e-12)
            XCTAssertTrue(m.effectiveRank90 <= m.effectiveRank99 && m.effectiveRank99 <= 4)
        }
        XCTAssertEqual(a.sufficiency.last!.matricesAt99, 120)
    }
}
