import Foundation
import XCTest
@testable import LoRAKit

/// `AdapterFactors.combine` against PEFT's `add_weighted_adapter` (fixtures by scripts/fixtures/peft_combine.py):
/// linear and cat give PEFT's factors; all three methods give PEFT's updates ΔW = s·B·A.
final class AdapterCombineTests: XCTestCase {
    struct Case: Decodable { var name: String; var adapters: [String]; var weights: [Double]; var method: String; var rank: Int? }

    var dir: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/combine").path
    }

    /// s·B·A of one matrix in fp64, [out, in].
    func delta(_ m: AdapterMatrix, rank r: Int, scale: Float) -> [Double] {
        var d = [Double](repeating: 0, count: m.outFeatures * m.inFeatures)
        for o in 0..<m.outFeatures {
            for k in 0..<r {
                let b = Double(m.b[o * r + k]) * Double(scale)
                for i in 0..<m.inFeatures { d[o * m.inFeatures + i] += b * Double(m.a[k * m.inFeatures + i]) }
            }
        }
        return d
    }

    func testEachMethodMatchesPEFT() throws {
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/cases.json")))
        XCTAssertEqual(cases.map(\.name), ["linear", "cat", "svd"])
        for c in cases {
            let inputs = try c.adapters.map { try AdapterFactors.loadPEFT(from: dir + "/" + $0) }
            let ours = try AdapterFactors.combine(inputs, weights: c.weights, method: CombineMethod(rawValue: c.method)!, rank: c.rank)
            let peft = try AdapterFactors.loadPEFT(from: dir + "/" + c.name)
            XCTAssertEqual(ours.rank, peft.rank, c.name)
            XCTAssertEqual(ours.alpha, peft.alpha, c.name)
            XCTAssertEqual(Set(ours.matrices.map(\.name)), Set(peft.matrices.map(\.name)), c.name)
            for p in peft.matrices {
                let m = try XCTUnwrap(ours.matrices.first { $0.name == p.name })
                let d1 = delta(m, rank: ours.rank, scale: ours.scale), d2 = delta(p, rank: peft.rank, scale: peft.scale)
                let norm = d2.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let err = zip(d1, d2).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
                XCTAssertLessThan(err, 1e-5 * max(norm, 1e-12), "\(c.name) \(p.name): ΔW differs by \(err) (norm \(norm))")
                if c.method != "svd" {   // SVD factors are unique only up to signs; linear and cat factors are PEFT's
                    let fa = zip(m.a, p.a).map { abs($0 - $1) }.max() ?? 0, fb = zip(m.b, p.b).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThan(max(fa, fb), 1e-6, "\(c.name) \(p.name)")
                }
            }
        }
    }

    func testErrorsNameTheProblem() throws {
        let a = try AdapterFactors.loadPEFT(from: dir + "/a"), c = try AdapterFactors.loadPEFT(from: dir + "/c")
        XCTAssertThrowsError(try AdapterFactors.combine([a, c], weights: [1, 1], method: .linear)) { e in
            XCTAssertEqual(e as? CombineError, .rankMismatch([4, 2]))
        }
        XCTAssertThrowsError(try AdapterFactors.combine([a, c], weights: [1], method: .cat)) { e in
            XCTAssertEqual(e as? CombineError, .weightCount(adapters: 2, weights: 1))
        }
        XCTAssertThrowsError(try AdapterFactors.combine([], weights: [], method: .cat))
    }
}
