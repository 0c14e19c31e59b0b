import Foundation
import XCTest
@testable import LoRAKit

/// Dense reference linear algebra for the analysis tests (independent of LAPACK).
enum DenseRef {
    /// scale·B·A as a row-major [out, in] double matrix. b: [out, r], a: [r, in].
    static func product(_ b: [Float], _ a: [Float], out: Int, in n: Int, rank r: Int, scale: Float) -> [Double] {
        var w = [Double](repeating: 0, count: out * n)
        for i in 0..<out {
            for k in 0..<r {
                let bik = Double(b[i * r + k]) * Double(scale)
                for j in 0..<n { w[i * n + j] += bik * Double(a[k * n + j]) }
            }
        }
        return w
    }

    /// All singular values (descending) of a row-major [m, n] matrix by one-sided Jacobi on the
    /// columns of the taller orientation.
    static func singularValues(_ w: [Double], rows m: Int, cols n: Int) -> [Double] {
        // Work on columns of X [p, q] with p >= q (X = w or wᵀ), stored column-major.
        let (p, q) = m >= n ? (m, n) : (n, m)
        var x = [Double](repeating: 0, count: p * q)
        for i in 0..<m { for j in 0..<n { if m >= n { x[j * p + i] = w[i * n + j] } else { x[i * p + j] = w[i * n + j] } } }
        for _ in 0..<60 {
            var rotated = false
            for c1 in 0..<q {
                for c2 in (c1 + 1)..<max(q, c1 + 1) {
                    var alpha = 0.0, beta = 0.0, gamma = 0.0
                    for i in 0..<p {
                        let u = x[c1 * p + i], v = x[c2 * p + i]
                        alpha += u * u; beta += v * v; gamma += u * v
                    }
                    if abs(gamma) <= 1e-15 * (alpha * beta).squareRoot() || gamma == 0 { continue }
                    rotated = true
                    let zeta = (beta - alpha) / (2 * gamma)
                    let t = (zeta >= 0 ? 1 : -1) / (abs(zeta) + (1 + zeta * zeta).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = c * t
                    for i in 0..<p {
                        let u = x[c1 * p + i], v = x[c2 * p + i]
                        x[c1 * p + i] = c * u - s * v
                        x[c2 * p + i] = s * u + c * v
                    }
                }
            }
            if !rotated { break }
        }
        return (0..<q).map { c in (0..<p).reduce(0.0) { $0 + x[c * p + $1] * x[c * p + $1] }.squareRoot() }.sorted(by: >)
    }

    static func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var g = AdapterFixtures.SplitMix(state: seed)
        return (0..<n).map { _ in g.nextFloat() * scale }
    }
}

final class AnalyzeSpectrumTests: XCTestCase {
    /// Singular values from QR + core SVD match a Jacobi SVD of the explicitly formed scale·B·A.
    func testSpectraMatchDenseSVD() throws {
        let shapes: [(out: Int, in: Int, r: Int)] = [(37, 23, 5), (13, 50, 13), (64, 48, 8), (29, 29, 1), (50, 31, 16)]
        var worst = 0.0
        for (n, s) in shapes.enumerated() {
            let b = DenseRef.random(s.out * s.r, seed: UInt64(100 + n)), a = DenseRef.random(s.r * s.in, seed: UInt64(200 + n))
            let scale: Float = 1.75
            let svd = try LowRankSVD.decompose(b: b, a: a, out: s.out, in: s.in, rank: s.r, scale: scale, vectors: false, name: "t")
            let dense = DenseRef.singularValues(DenseRef.product(b, a, out: s.out, in: s.in, rank: s.r, scale: scale), rows: s.out, cols: s.in)
            XCTAssertEqual(svd.singularValues.count, s.r)
            for i in 0..<s.r {
                let rel = abs(svd.singularValues[i] - dense[i]) / dense[i]
                worst = max(worst, rel)
                XCTAssertLessThanOrEqual(rel, 1e-5, "shape \(s) σ_\(i + 1): \(svd.singularValues[i]) vs dense \(dense[i])")
            }
            // The rest of the dense spectrum is zero (rank ≤ r).
            if dense.count > s.r { XCTAssertLessThan(dense[s.r], 1e-9 * dense[0]) }
        }
        print("AnalyzeSpectrumTests: worst relative error of σ vs dense Jacobi SVD: \(worst)")
    }

    /// The singular vectors reconstruct ΔW: U·Σ·Vᵀ == scale·B·A.
    func testVectorsReconstruct() throws {
        let (out, inF, r) = (41, 27, 6)
        let b = DenseRef.random(out * r, seed: 5), a = DenseRef.random(r * inF, seed: 6)
        let svd = try LowRankSVD.decompose(b: b, a: a, out: out, in: inF, rank: r, scale: 0.5, vectors: true, name: "t")
        let w = DenseRef.product(b, a, out: out, in: inF, rank: r, scale: 0.5)
        let u = try XCTUnwrap(svd.u), v = try XCTUnwrap(svd.v)
        var maxErr = 0.0, maxW = 0.0
        for i in 0..<out {
            for j in 0..<inF {
                var x = 0.0
                for k in 0..<r { x += u[k * out + i] * svd.singularValues[k] * v[k * inF + j] }
                maxErr = max(maxErr, abs(x - w[i * inF + j]))
                maxW = max(maxW, abs(w[i * inF + j]))
            }
        }
        XCTAssertLessThan(maxErr / maxW, 1e-12)
    }

    /// Derived numbers on a known spectrum: σ = 3, 2, 1 (energy 9, 4, 1 of 14).
    func testDerivedNumbers() {
        let m = MatrixSpectrum(layer: 2, module: "v_proj", outFeatures: 10, inFeatures: 10, singularValues: [1, 3, 2])
        XCTAssertEqual(m.singularValues, [3, 2, 1])
        XCTAssertEqual(m.frobeniusNorm, 14.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(m.energyShare[0], 9.0 / 14, accuracy: 1e-12)
        XCTAssertEqual(m.energyShare[1], 13.0 / 14, accuracy: 1e-12)
        XCTAssertEqual(m.energyShare[2], 1, accuracy: 1e-12)
        XCTAssertEqual(m.effectiveRank90, 2)  // 13/14 = 0.929
        XCTAssertEqual(m.effectiveRank99, 3)
        XCTAssertEqual(m.effectiveRank(0.6), 1)
    }

    /// An untrained adapter (B = 0) has a zero spectrum, effective rank 0 and nothing to lose.
    func testZeroUpdate() throws {
        let f = AdapterFactors(rank: 4, alpha: 8, useRSLoRA: false, matrices: [
            AdapterMatrix(layer: 0, target: .q_proj, outFeatures: 12, inFeatures: 9, a: DenseRef.random(36, seed: 1), b: [Float](repeating: 0, count: 48)),
        ])
        let s = try f.spectra()
        XCTAssertEqual(s[0].singularValues, [0, 0, 0, 0])
        XCTAssertEqual(s[0].effectiveRank99, 0)
        let (red, loss) = try f.reduced(toRank: 2)
        XCTAssertEqual(loss[0].discardedEnergy, 0)
        XCTAssertTrue(red.matrices[0].b.allSatisfy { $0 == 0 })
    }

    /// ‖W0‖_F from a base matrix dequantized row by row, and the shape check.
    func testBaseNorm() throws {
        let (out, inF) = (12, 64)
        let w0 = DenseRef.random(out * inF, seed: 9)
        let q = try QuantizedMatrix.quantize(w0, rows: out, cols: inF, as: .f32)
        var m = MatrixSpectrum(layer: 0, module: "q_proj", outFeatures: out, inFeatures: inF, singularValues: [2, 1])
        try m.attachBase(q)
        let ref = w0.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(try XCTUnwrap(m.baseNorm), ref, accuracy: 1e-9 * ref)
        XCTAssertEqual(try XCTUnwrap(m.relativeUpdate), 5.0.squareRoot() / ref, accuracy: 1e-12)
        var bad = MatrixSpectrum(layer: 0, module: "q_proj", outFeatures: inF, inFeatures: out, singularValues: [1])
        XCTAssertThrowsError(try bad.attachBase(q)) { XCTAssertTrue("\($0)".contains("different base model")) }
    }

    /// The summary counts matrices per rank and finds the sufficient rank.
    func testSummary() throws {
        let f = AdapterFactors(rank: 3, alpha: 3, useRSLoRA: false, matrices: [])
        let sp = [
            MatrixSpectrum(layer: 0, module: "q_proj", outFeatures: 8, inFeatures: 8, singularValues: [10, 0.1, 0.01]),  // eff99 = 1
            MatrixSpectrum(layer: 0, module: "v_proj", outFeatures: 8, inFeatures: 8, singularValues: [3, 2, 1]),        // eff99 = 3
            MatrixSpectrum(layer: 1, module: "q_proj", outFeatures: 8, inFeatures: 8, singularValues: [5, 1, 0.01]),     // eff99 = 2
        ]
        let a = AdapterAnalysis(adapter: "x", factors: f, spectra: sp)
        XCTAssertEqual(a.sufficiency.map(\.matricesAt99), [1, 2, 3])
        XCTAssertEqual(a.sufficientRank(), 3)
        XCTAssertEqual(a.sufficientRank(fraction: 0.6), 2)
        XCTAssertEqual(a.modules.map(\.module), ["q_proj", "v_proj"])
        XCTAssertEqual(a.layers.count, 2)
        XCTAssertEqual(a.layers[0].totalNorm, (100 + 0.01 + 0.0001 + 14).squareRoot(), accuracy: 1e-9)
        let text = a.text()
        XCTAssertTrue(text.contains("rank 2 keeps >= 99% of the update energy in 2 of 3 matrices"), text)
        let svg = SpectrumSVG.render(a)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        XCTAssertEqual(svg.components(separatedBy: "stroke-opacity").count - 1, 3)
    }
}
