import CKernels
import Foundation
import XCTest

/// GeGLU (gelu-tanh gate, Gemma's MLP): every ISA against the scalar reference on random data, the reference against
/// finite differences, and the dispatched op against torch (Tests/Fixtures/ops/torch_geglu.json, scripts/fixtures/ops_geglu.py).
final class OpsGeGLUTests: XCTestCase {
    func testGeGLUMatchesReference() {
        var rng = SplitMix64(seed: 31)
        for n in [1, 3, 7, 8, 15, 16, 17, 31, 100, 257, 1000, 5000] {
            var g = opsRandom(n, &rng, scale: 6), u = opsRandom(n, &rng), dh = opsRandom(n, &rng)
            if n > 4 { g[0] = 95; g[1] = -95; g[2] = 12; g[3] = -12 } // saturated tanh on both sides
            u[0] = 1.5
            var hRef = [Float](repeating: 0, count: n)
            lk_geglu_fwd_ref(&hRef, g, u, Int64(n))
            for i in 0..<n {
                let x = Double(g[i]), gelu = 0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
                XCTAssertEqual(Double(hRef[i]), gelu * Double(u[i]), accuracy: 1e-6 * max(1, abs(x)))
            }
            var dgRef = [Float](repeating: 0, count: n), duRef = dgRef
            lk_geglu_bwd_ref(&dgRef, &duRef, dh, g, u, Int64(n))
            for isa in opsISAs {
                var h = [Float](repeating: 0, count: n), dg = h, du = h
                lk_geglu_fwd_isa(isa, nil, &h, g, u, Int64(n))
                lk_geglu_bwd_isa(isa, nil, &dg, &du, dh, g, u, Int64(n))
                XCTAssertLessThanOrEqual(opsRelErr(h, hRef), 2e-6, "\(opsISAName(isa)) n=\(n)")
                XCTAssertLessThanOrEqual(opsRelErr(dg, dgRef), 2e-6, "\(opsISAName(isa)) n=\(n)")
                XCTAssertLessThanOrEqual(opsRelErr(du, duRef), 2e-6, "\(opsISAName(isa)) n=\(n)")
                XCTAssertFalse(h.contains { !$0.isFinite } || dg.contains { !$0.isFinite }, "\(opsISAName(isa))")
            }
        }
    }

    func testGeGLUGradientMatchesFiniteDifferences() {
        var rng = SplitMix64(seed: 32)
        let n = 13
        let g = opsRandom(n, &rng, scale: 4), u = opsRandom(n, &rng), R = opsRandom(n, &rng)
        var dg = [Float](repeating: 0, count: n), du = dg
        lk_geglu_bwd_ref(&dg, &du, R, g, u, Int64(n))
        func loss(_ g: [Float], _ u: [Float]) -> Double {
            var h = [Float](repeating: 0, count: n)
            lk_geglu_fwd_ref(&h, g, u, Int64(n))
            return opsDot(h, R)
        }
        opsAssertGradient(dg, opsFiniteDifferences(g, eps: 1e-2) { loss($0, u) }, tol: 1e-3, "geglu dg")
        opsAssertGradient(du, opsFiniteDifferences(u, eps: 1e-2) { loss(g, $0) }, tol: 1e-3, "geglu du")
    }

    func testThreadedEqualsSingleThread() throws {
        var rng = SplitMix64(seed: 33)
        let n = 37 * 2003
        let g = opsRandom(n, &rng, scale: 4), u = opsRandom(n, &rng), dh = opsRandom(n, &rng)
        func run(_ pool: OpaquePointer?, _ isa: lk_isa) -> [[Float]] {
            var h = [Float](repeating: 0, count: n), dg = h, du = h
            lk_geglu_fwd_isa(isa, pool, &h, g, u, Int64(n))
            lk_geglu_bwd_isa(isa, pool, &dg, &du, dh, g, u, Int64(n))
            return [h, dg, du]
        }
        guard let pool = opsMakePool(3) else { throw XCTSkip("could not create a thread pool") }
        defer { opsDestroyPool(pool) }
        for isa in opsISAs { XCTAssertEqual(run(pool, isa), run(nil, isa), opsISAName(isa)) }
    }

    func testGeGLUMatchesTorch() throws {
        struct Golden: Decodable { var n: Int; var g, u, h, dh, dg, du: [Float] }
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ops/torch_geglu.json")
        let s = try JSONDecoder().decode(Golden.self, from: Data(contentsOf: url))
        var h = [Float](repeating: 0, count: s.n), dg = h, du = h
        lk_geglu_fwd(nil, &h, s.g, s.u, Int64(s.n))
        lk_geglu_bwd(nil, &dg, &du, s.dh, s.g, s.u, Int64(s.n))
        XCTAssertLessThanOrEqual(opsRelErr(h, s.h), 1e-6)
        XCTAssertLessThanOrEqual(opsRelErr(dg, s.dg), 1e-6)
        XCTAssertLessThanOrEqual(opsRelErr(du, s.du), 1e-6)
    }
}
