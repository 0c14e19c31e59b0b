import COpenBLAS
import Foundation

/// The result of one benchmark (`lorakit bench train|forward|kernels`).
public struct BenchReport: Codable, Sendable {
    /// "train", "forward" or a kernel name.
    public var name: String
    /// Pool threads.
    public var threads: Int
    /// Tokens per measured step (batch × sequence), 0 for kernels.
    public var tokens: Int
    /// Wall time of every measured repetition, seconds.
    public var seconds: [Double]
    /// Median of `seconds`.
    public var medianSeconds: Double
    /// tokens / medianSeconds.
    public var tokensPerSecond: Double
    /// Floating-point operations of one repetition counted for GFLOP/s (frozen-weight products only
    /// for train/forward: 2·T·out·in each).
    public var flops: Double
    /// Achieved GFLOP/s over the median repetition.
    public var gflops: Double
    /// GFLOP/s of raw `cblas_sgemm` (fp32, same threads) on the same shapes, measured in this process.
    public var sgemmGFLOPS: Double
    /// gflops / sgemmGFLOPS.
    public var ceilingFraction: Double
    /// Peak resident set of the process so far, bytes.
    public var peakRSSBytes: Int
    /// Per-op wall time of one profiled repetition (train/forward), seconds.
    public var profile: [OpProfile.Entry]
    /// Fraction of the profiled repetition spent in frozen-weight products.
    public var frozenFraction: Double
    /// Free-form details (model, precision, ...).
    public var notes: [String: String]

    /// Human-readable multi-line summary.
    public var text: String {
        var s = String(format: "%@: %d threads, median %.4f s (%d reps)", name, threads, medianSeconds, seconds.count)
        if tokens > 0 { s += String(format: ", %.1f tokens/s", tokensPerSecond) }
        if flops > 0 {
            s += String(format: "\n  %.2f GFLOP/s (frozen products), sgemm ceiling %.2f GFLOP/s same shapes/threads → %.0f%%",
                        gflops, sgemmGFLOPS, ceilingFraction * 100)
        }
        s += "\n  peak RSS \(ProcessMemory.format(peakRSSBytes))"
        for (k, v) in notes.sorted(by: { $0.key < $1.key }) { s += "\n  \(k): \(v)" }
        if !profile.isEmpty {
            let total = profile.reduce(0) { $0 + $1.seconds }
            s += String(format: "\n  profile of one repetition (%.4f s in ops, frozen products %.0f%%):", total, frozenFraction * 100)
            for e in profile.sorted(by: { $0.seconds > $1.seconds }) {
                let op = e.op.count < 22 ? e.op + String(repeating: " ", count: 22 - e.op.count) : e.op
                s += String(format: "\n    %@ %8.4f s %5.1f%% %6d calls", op, e.seconds,
                            total > 0 ? e.seconds / total * 100 : 0, e.calls)
            }
        }
        return s
    }
}

/// Shared helpers of the benchmarks.
public enum BenchSupport {
    /// Median of `xs` (0 when empty).
    public static func median(_ xs: [Double]) -> Double {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// Seconds taken by `body`.
    public static func time(_ body: () -> Void) -> Double {
        let t0 = OpProfile.now()
        body()
        return OpProfile.now() - t0
    }

    /// Raw `cblas_sgemm` GFLOP/s (OpenBLAS with `threads` threads) over products Y[T, out] = X[T, in]·Wᵀ
    /// (and, with `backward`, dX[T, in] = dY[T, out]·W) of the given shapes: total flops / median total time.
    public static func sgemmCeiling(shapes: [(out: Int, in: Int, count: Int)], tokens T: Int, threads: Int,
                                    backward: Bool, repeats: Int = 3) -> Double {
        var rng = SplitMix64(seed: 7)
        let maxOut = shapes.map(\.out).max() ?? 1, maxIn = shapes.map(\.in).max() ?? 1
        let w = (0..<(maxOut * maxIn)).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 }
        let x = (0..<(T * max(maxIn, maxOut))).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 }
        var y = [Float](repeating: 0, count: T * max(maxIn, maxOut))
        openblas_set_num_threads(Int32(threads))
        defer { openblas_set_num_threads(1) }
        var flops = 0.0
        for s in shapes { flops += 2 * Double(T * s.out * s.in * s.count) * (backward ? 2 : 1) }
        var times: [Double] = []
        for _ in 0..<repeats {
            times.append(time {
                for s in shapes {
                    for _ in 0..<s.count {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(s.out), Int32(s.in), 1,
                                    x, Int32(s.in), w, Int32(s.in), 0, &y, Int32(s.out))
                        if backward {
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(s.in), Int32(s.out), 1,
                                        x, Int32(s.out), w, Int32(s.in), 0, &y, Int32(s.in))
                        }
                    }
                }
            })
        }
        return flops / median(times) / 1e9
    }
}
