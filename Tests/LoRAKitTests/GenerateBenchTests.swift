import Foundation
import XCTest
import LoRAKit

/// Decode speed: base, base with the panel matmul, base + unmerged adapter, merged model; rounds interleaved and
/// the best round kept (the machine is shared). Runs only with LORAKIT_BENCH=1 (use a release build:
/// `LORAKIT_BENCH=1 swift test -c release --filter GenerateBenchTests`); no @testable, so it builds in release.
final class GenerateBenchTests: XCTestCase {
    func testDecodeSpeedUnmergedVsMerged() throws {
        guard ProcessInfo.processInfo.environment["LORAKIT_BENCH"] == "1" else { throw XCTSkip("set LORAKIT_BENCH=1 to run") }
        let path = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
            ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("model not found at \(path)") }
        let threads = Int(ProcessInfo.processInfo.environment["LORAKIT_BENCH_THREADS"] ?? "2") ?? 2
        let pool = ThreadPool(threads: threads)
        let w = try ModelWeights.load(path: path)
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
        let peft = try LoRAParameters.loadPEFT(from: fixtures.appendingPathComponent("peft/adapter").path, model: w.config)
        var big = try LoRAParameters(config: LoRAConfig(rank: 16, alpha: 32, targets: LoRATarget.allCases), model: w.config)
        for i in 0..<big.count { big.values[i] = Float(i % 7) * 1e-3 }
        let mergedPath = NSTemporaryDirectory() + "lorakit-bench-merged-\(ProcessInfo.processInfo.processIdentifier).gguf"
        defer { try? FileManager.default.removeItem(atPath: mergedPath) }
        try LoRAMerge.writeGGUF(model: w, adapter: peft, to: mergedPath, type: .same, pool: pool)
        let merged = try ModelWeights.load(path: mergedPath)

        let prompt = (0..<32).map { Int32(100 + $0 * 37) }
        let steps = 64
        struct Config { var name: String; var decoder: LlamaDecoder }
        func make(_ m: ModelWeights, _ a: LoRAParameters?, matvec: Bool = true) throws -> LlamaDecoder {
            let d = try LlamaDecoder(weights: m, maxContext: 256, pool: pool)
            d.useMatVec = matvec
            try d.setAdapter(a.map { LoRAAdapter(name: "a", parameters: $0) })
            return d
        }
        let configs = [
            Config(name: "base (panel matmul)", decoder: try make(w, nil, matvec: false)),
            Config(name: "base", decoder: try make(w, nil)),
            Config(name: "base + adapter r=4 q,k,v,o (unmerged)", decoder: try make(w, peft)),
            Config(name: "merged Q4_1 (same adapter)", decoder: try make(merged, nil)),
            Config(name: "base + adapter r=16 all 7 (unmerged)", decoder: try make(w, big)),
        ]
        var best = [Double](repeating: 0, count: configs.count), bestPrefill = best
        for _ in 0..<5 {
            for (i, c) in configs.enumerated() {
                c.decoder.reset()
                let t0 = Date()
                var logits = try c.decoder.append(prompt)
                let t1 = Date()
                for _ in 0..<steps { logits = try c.decoder.append([Int32(Sampler.argmax(logits))]) }
                let t2 = Date()
                best[i] = max(best[i], Double(steps) / t2.timeIntervalSince(t1))
                bestPrefill[i] = max(bestPrefill[i], Double(prompt.count) / t1.timeIntervalSince(t0))
            }
        }
        for (i, c) in configs.enumerated() {
            print(String(format: "bench %@: decode %7.1f tok/s  prefill(32) %7.1f tok/s  (%+.1f%% decode vs merged)",
                         c.name as NSString, best[i], bestPrefill[i], 100 * (best[3] / best[i] - 1)))
        }
    }
}
