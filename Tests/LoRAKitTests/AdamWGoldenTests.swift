import XCTest
@testable import LoRAKit

/// 20 AdamW steps from PEFT's init against PEFT + torch.optim.AdamW (scripts/fixtures/model_golden.py).
final class AdamWGoldenTests: XCTestCase {
    func testTwentyStepsMatchPEFT() throws {
        let w = try GoldenFixture.smolLM2()
        let meta = try GoldenFixture.json("model/adamw20.json")
        let betas = meta["betas"] as! [Double]
        let cfg = AdamWConfig(beta1: Float(betas[0]), beta2: Float(betas[1]), eps: Float(meta["eps"] as! Double),
                              weightDecay: Float(meta["weight_decay"] as! Double), maxGradNorm: nil)
        let p = try LoRAParameters(config: LoRAConfig(rank: 8, alpha: 16, targets: [.q_proj, .v_proj]), model: w.config)
        let stepper = LoRAStepper(weights: w, parameters: p, batch: 2, sequence: 24, checkpointing: false, optimizer: cfg,
                                  pool: ThreadPool(threads: 2))
        let batches = (meta["batches"] as! [Any]).map { GoldenFixture.ints2($0) }
        let ignore = (meta["ignore_prefix"] as! [Int])
        let ref = meta["losses"] as! [Double]
        for step in 0..<20 {
            let tokens = batches[step % 4]
            var targets = [Int32](repeating: -1, count: 48)
            for b in 0..<2 { for s in 0..<23 where s >= ignore[b] { targets[b * 24 + s] = tokens[b * 24 + s + 1] } }
            let n = targets.filter { $0 >= 0 }.count
            let loss = stepper.accumulate(tokens: tokens, targets: targets, gradScale: 1 / Float(n))
            stepper.applyUpdate(learningRate: Float(meta["lr"] as! Double))
            XCTAssertEqual(loss.mean, ref[step], accuracy: 1e-3, "step \(step)")
        }
    }
}
