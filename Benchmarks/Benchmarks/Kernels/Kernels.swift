import Benchmark
import LoRAKit

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput, .peakMemoryResident],
                                           maxDuration: .seconds(2), maxIterations: 1000)

    Benchmark("dot f32 4096 (dispatched)") { benchmark in
        let a = [Float](repeating: 0.5, count: 4096).enumerated().map { Float($0.offset % 7) * 0.25 + $0.element }
        let b = a.reversed().map { $0 }
        for _ in benchmark.scaledIterations { blackHole(KernelProbe.dot(a, b)) }
    }

    tokenizerBenchmarks()
    matmulBenchmarks()
}
