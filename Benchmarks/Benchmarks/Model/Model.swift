import Benchmark
import Foundation
import LoRAKit

/// Regression benchmarks of a whole forward pass and a whole training step on SmolLM2-135M
/// (see ModelSource for where the weights come from), fp32 and — when the CPU has AVX512-BF16 —
/// bf16, plus the Q4_1 products on the layer shapes (KernelProducts.swift). Each iteration calls the
/// library's own `Bench.forward` / `Bench.train` (the code behind `lorakit bench forward|train`), which
/// builds the graph, runs one unmeasured repetition, times `repeats` repetitions and profiles one more.
///
/// - `ms/step (fastest of N)`: the fastest timed repetition of the iteration — other work on the machine
///   only ever adds time, so this is the statistic that stays put between runs on a loaded machine
///   (the p90 of single repetitions moved by +56% between two runs here);
/// - `tokens/s`: batch × sequence over that time (reported, not checked: see Tolerances.swift);
/// - `Time (wall clock)`: the whole call (graph build, warm-up, timed and profiled repetitions);
/// - `Memory (resident peak)`: the process's resident set sampled during the iteration (weights included).
///
/// Names carry no spaces or slashes: static threshold files are looked up as
/// `Thresholds/<target>.<name>.p90.json`.
let benchmarks: @Sendable () -> Void = {
    enum Workload: String { case forward, train }

    /// One benchmark: `iterations` calls of Bench.forward/train, each timing `repeats` repetitions.
    func register(_ workload: Workload, _ precision: ComputePrecision, batch: Int, sequence: Int,
                  repeats: Int, iterations: Int) {
        let msPerStep = BenchmarkMetric.custom("ms/step (fastest of \(repeats))", polarity: .prefersSmaller,
                                               useScalingFactor: false)
        let tokensPerSecond = BenchmarkMetric.custom("tokens/s", polarity: .prefersLarger, useScalingFactor: false)
        let thresholds = largeRegressionTolerances(extra: [msPerStep: .init(relative: [.p90: 50]),
                                                           tokensPerSecond: .init(relative: [.p90: 50])])
        let config = Benchmark.Configuration(
            metrics: [.wallClock, msPerStep, tokensPerSecond, .peakMemoryResident],
            warmupIterations: 0, maxDuration: .seconds(300), maxIterations: iterations,
            skip: precision == .bf16 && !ComputePrecision.bf16IsNative, thresholds: thresholds)
        var options = BenchOptions()
        options.batch = batch
        options.sequence = sequence
        options.threads = 2
        options.warmup = 1
        options.repeats = repeats
        options.measureCeiling = false
        options.precision = precision
        options.lora = LoRAConfig(rank: 8, alpha: 16, targets: LoRATarget.allCases)   // as `make run`: all-linear

        Benchmark("\(workload.rawValue)-\(precision.rawValue)-b\(batch)xs\(sequence)", configuration: config) {
            benchmark, weights in
            for _ in benchmark.scaledIterations {
                let report = workload == .forward ? try Bench.forward(weights: weights, options: options)
                                                  : try Bench.train(weights: weights, options: options)
                let best = report.seconds.min() ?? 0
                benchmark.measurement(msPerStep, Int((best * 1e3).rounded()))
                benchmark.measurement(tokensPerSecond, Int((Double(report.tokens) / max(best, 1e-9)).rounded()))
            }
        } setup: {
            let w = try ModelSource.weights
            print("\(workload.rawValue) \(precision.rawValue) b\(batch)×s\(sequence) on \(ModelSource.origin)")
            return w
        }
    }

    // A 128-token prompt (one iteration well under a second on an idle 2-core machine).
    register(.forward, .fp32, batch: 1, sequence: 128, repeats: 3, iterations: 5)
    register(.forward, .bf16, batch: 1, sequence: 128, repeats: 3, iterations: 5)
    // Forward, backward and AdamW over 2 × 64 tokens.
    register(.train, .fp32, batch: 2, sequence: 64, repeats: 3, iterations: 4)
    register(.train, .bf16, batch: 2, sequence: 64, repeats: 3, iterations: 4)

    kernelProductBenchmarks()
}
