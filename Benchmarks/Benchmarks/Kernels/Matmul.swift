import Benchmark
import CKernels
import COpenBLAS
import Foundation

/// Frozen-weight products at the SmolLM2-135M shapes (T = 1024 tokens) next to raw cblas_sgemm on the
/// same shapes, at 1 and 2 threads. Reports GFLOP/s (2·T·out·in per product) as a custom metric.
/// Names carry no spaces or slashes, so static thresholds (`Thresholds/Kernels.<name>.p90.json`) could be stored;
/// none are: single timings of these short products swing 2–12× on a loaded machine. `make bench` checks the
/// products through the Model target's `kernel-*` benchmarks (fastest of 5 repetitions) instead.
func matmulBenchmarks() {
    let shapes: [(name: String, out: Int, in: Int)] = [
        ("q_o-576x576", 576, 576), ("k_v-576to192", 192, 576), ("up_gate-576to1536", 1536, 576),
        ("down-1536to576", 576, 1536), ("lm_head-49152x576", 49152, 576),
    ]
    let T = 1024
    let gflops = BenchmarkMetric.custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)
    let config = Benchmark.Configuration(metrics: [.wallClock, gflops], warmupIterations: 1,
                                         maxDuration: .seconds(2), maxIterations: 40)

    /// Runs `body` once per iteration, timing each and recording its GFLOP/s.
    func measure(_ benchmark: Benchmark, flops: Double, _ body: () -> Void) {
        for _ in benchmark.scaledIterations {
            let t0 = DispatchTime.now().uptimeNanoseconds
            body()
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0)
            benchmark.measurement(gflops, Int((flops / dt).rounded()))
        }
    }

    func random(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Float(s >> 40) / Float(1 << 24) * 2 - 1
        }
    }

    for threads in [1, 2] {
        for shape in shapes {
            let (out, inn) = (shape.out, shape.in)
            let flops = 2.0 * Double(T) * Double(out) * Double(inn)
            let tag = "\(shape.name)-T\(T)-\(threads)t"

            for backward in [false, true] {
                Benchmark("cblas_sgemm-\(backward ? "bwd_data" : "fwd")-\(tag)", configuration: config) { benchmark in
                    let w = random(out * inn, seed: 1), x = random(T * max(inn, out), seed: 2)
                    var y = [Float](repeating: 0, count: T * max(inn, out))
                    openblas_set_num_threads(Int32(threads))
                    defer { openblas_set_num_threads(1) }
                    benchmark.startMeasurement()
                    measure(benchmark, flops: flops) {
                        if backward { // dX[T, in] = dY[T, out] · W[out, in]
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(inn), Int32(out), 1, x,
                                        Int32(out), w, Int32(inn), 0, &y, Int32(inn))
                        } else { // Y[T, out] = X[T, in] · Wᵀ
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(out), Int32(inn), 1, x,
                                        Int32(inn), w, Int32(inn), 0, &y, Int32(out))
                        }
                    }
                    benchmark.stopMeasurement()
                }
            }

            for type in [LK_Q4_1, LK_Q8_0] {
                let typeName = type == LK_Q4_1 ? "Q4_1" : "Q8_0"
                for backward in [false, true] {
                    Benchmark("qmatmul-\(backward ? "bwd_data" : "fwd")-\(typeName)-\(tag)", configuration: config) { benchmark in
                        let pool = lk_pool_create(Int32(threads), nil)
                        defer { lk_pool_destroy(pool) }
                        let w = random(out * inn, seed: 1), x = random(T * max(inn, out), seed: 2)
                        var q = [UInt8](repeating: 0, count: out * inn / 32 * Int(lk_type_block_bytes(type)))
                        q.withUnsafeMutableBytes { _ = lk_quantize_row(type, $0.baseAddress!, w, Int64(out * inn)) }
                        var scratch = [UInt8](repeating: 0, count: lk_qmatmul_scratch_bytes(pool, type, Int64(out), Int64(inn)))
                        var y = [Float](repeating: 0, count: T * max(inn, out))
                        benchmark.startMeasurement()
                        q.withUnsafeBytes { wq in
                            scratch.withUnsafeMutableBytes { s in
                                measure(benchmark, flops: flops) {
                                    if backward {
                                        lk_qmatmul_bwd_data(pool, s.baseAddress, &y, Int64(inn), x, Int64(out), type, wq.baseAddress!,
                                                            Int64(out), Int64(inn), Int64(T), 0)
                                    } else {
                                        lk_qmatmul_fwd(pool, s.baseAddress, &y, Int64(out), x, Int64(inn), type, wq.baseAddress!,
                                                       Int64(out), Int64(inn), Int64(T), 0)
                                    }
                                }
                            }
                        }
                        benchmark.stopMeasurement()
                    }
                }
            }
        }
    }
}
