import CKernels
import XCTest

/// AdamW against hand-computed PyTorch-semantics values over three steps.
final class OpsAdamWTests: XCTestCase {
    func testOneElementByHand() {
        // p=1, g=0.5, lr=0.1, wd=0.01: p <- 0.999; m=0.05, v=0.00025; mhat=0.5, vhat=0.25; p <- 0.999 - 0.1*0.5/0.5.
        var p: [Float] = [1], m: [Float] = [0], v: [Float] = [0]
        lk_adamw_step(&p, &m, &v, [0.5], 1, 0.1, 0.9, 0.999, 1e-8, 0.01, 1, 1)
        XCTAssertEqual(p[0], 0.899, accuracy: 1e-6)
        XCTAssertEqual(m[0], 0.05, accuracy: 5e-9)
        XCTAssertEqual(v[0], 0.00025, accuracy: 5e-11)
        // Step 2, g = -0.25: m = 0.02, v = 0.00031225, mhat = 0.02/0.19, vhat = 0.00031225/0.001999.
        lk_adamw_step(&p, &m, &v, [-0.25], 1, 0.1, 0.9, 0.999, 1e-8, 0.01, 2, 1)
        let expected = 0.899 * 0.999 - 0.1 * (0.02 / 0.19) / ((0.00031225 / 0.001999).squareRoot() + 1e-8)
        XCTAssertEqual(Double(p[0]), expected, accuracy: 1e-6)
    }

    func testThreeStepsMatchDoubleFormula() {
        var rng = SplitMix64(seed: 31)
        let n = 37
        let lr: Float = 3e-3, b1: Float = 0.9, b2: Float = 0.95, eps: Float = 1e-6, wd: Float = 0.1, gs: Float = 0.5
        var p = opsRandom(n, &rng), m = [Float](repeating: 0, count: n), v = m
        var pd = p.map(Double.init), md = [Double](repeating: 0, count: n), vd = md
        for step in 1...3 {
            let g = opsRandom(n, &rng, scale: 2)
            lk_adamw_step(&p, &m, &v, g, Int64(n), lr, b1, b2, eps, wd, Int64(step), gs)
            let (B1, B2, LR, WD, EPS) = (Double(b1), Double(b2), Double(lr), Double(wd), Double(eps))
            for i in 0..<n {
                let gi = Double(g[i]) * Double(gs)
                pd[i] *= 1 - LR * WD
                md[i] = B1 * md[i] + (1 - B1) * gi
                vd[i] = B2 * vd[i] + (1 - B2) * gi * gi
                let mhat = md[i] / (1 - pow(B1, Double(step))), vhat = vd[i] / (1 - pow(B2, Double(step)))
                pd[i] -= LR * mhat / (vhat.squareRoot() + EPS)
            }
            for i in 0..<n {
                XCTAssertEqual(Double(p[i]), pd[i], accuracy: 1e-6, "step \(step) i=\(i)")
                XCTAssertEqual(Double(m[i]), md[i], accuracy: 1e-6 * max(1, abs(md[i])))
                XCTAssertEqual(Double(v[i]), vd[i], accuracy: 1e-6 * max(1e-3, abs(vd[i])))
            }
        }
    }
}
