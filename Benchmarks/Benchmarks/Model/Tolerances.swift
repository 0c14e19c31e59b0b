import Benchmark

/// Tolerances of `swift package benchmark thresholds check` against the stored p90 values in
/// Benchmarks/Thresholds: only a LARGE regression fails, since the machine is shared and loaded.
///
/// - `ms/step (fastest of N)` and the kernels' `us (min of N)`: fail above +50% of the stored p90;
/// - `Time (wall clock)` of a whole iteration (single timings, exposed to every load spike): fail above +100%;
/// - resident memory peak: fail above +25%;
/// - rates (`tokens/s`, `GFLOP/s`, larger is better): fail below −50%. package-benchmark 1.38 stores the
///   raw 90th percentile of a larger-is-better metric (its fast tail) but checks the 10th (its slow tail),
///   so the spread between the two eats part of the tolerance; `make bench-thresholds` stores no rates and
///   the time metrics carry the check.
///
/// A metric whose stored threshold has no tolerance here is checked strictly (any change fails), so every
/// metric a thresholded benchmark records must appear in the dictionary.
func largeRegressionTolerances(extra: [BenchmarkMetric: BenchmarkThresholds] = [:]) -> [BenchmarkMetric: BenchmarkThresholds] {
    var t: [BenchmarkMetric: BenchmarkThresholds] = [
        .wallClock: .init(relative: [.p90: 100]),
        .peakMemoryResident: .init(relative: [.p90: 25]),
    ]
    t.merge(extra) { _, new in new }
    return t
}
