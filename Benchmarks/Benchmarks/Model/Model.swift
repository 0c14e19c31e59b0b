import Benchmark
import Foundation
import LoRAKit

/// Regression benchmarks of a whole forward pass and a whole training step on SmolLM2-135M
/// (see ModelSource for where the weights come from), fp32 and — when the CPU has AVX512-BF16 —
/// bf16. Each iteration calls the library's own `Bench.forward` / `Bench.train` (the code behind
/// `lorakit bench forward|train`), which builds the graph, runs one unmeasured repetition and then
/// times `repeats` repetitions; those per-repetition times are recorded as `ms/step` and `tokens/s`.
/// `Time (wall clock)` covers the whole call (graph build, warm-up, timed and profiled repetitions).
///
/// Names carry no spaces or slashes: static threshold files are looked up as
/// `Thresholds/<target>.<name>.p90.json`.
let benchmarks: @Sendable () -> Void = {
    let msPerStep = BenchmarkMetric.custom("ms/step", polarity: .prefersSmaller, useScalingFactor: false)
    let tokensPerSecond = BenchmarkMetric.custom("tokens/s", polarity: .prefersLarger, useScalingFactor: false)

    let thresholds = largeRegressionTolerances(extra: [msPerStep: .init(relative: [.p90: 50]),
                                                       tokensPerSecond: .init(relative: [.p90: 50])])

    enum Workload: String { case forward, train }

    /// One benchmark: `iterations` calls of Bench.forward/train, each timing `repeats` repetitions.
    func register(_ workload: Workload, _ precision: ComputePrecision, batch: Int, sequence: Int,
                  repeats: Int, iterations: Int) {
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
                for s in report.seconds {
                    benchmark.measurement(msPerStep, Int((s * 1e3).rounded()))
                    benchmark.measurement(tokensPerSecond, Int((Double(report.tokens) / s).rounded()))
                }
            }
        } setup: {
            let w = try ModelSource.weights
            print("\(workload.rawValue) \(precision.rawValue) b\(batch)×s\(sequence) on \(ModelSource.origin)")
            return w
        }
    }

    // A 128-token prompt (one iteration well under a second on an idle 2-core machine).
    register(.forward, .fp32, batch: 1, sequence: 128, repeats: 3, iterations: 4)
    register(.forward, .bf16, batch: 1, sequence: 128, repeats: 3, iterations: 4)
    // Forward, backward and AdamW over 2 × 64 tokens.
    register(.train, .fp32, batch: 2, sequence: 64, repeats: 2, iterations: 4)
    register(.train, .bf16, batch: 2, sequence: 64, repeats: 2, iterations: 4)

    kernelProductBenchmarks()
}
