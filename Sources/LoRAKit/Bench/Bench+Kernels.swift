import COpenBLAS
import CKernels
import Foundation

extension Bench {
    /// One frozen-weight product shape of a model: Y[T, out] = X[T, in]·Wᵀ.
    public struct KernelShape: Sendable {
        public var name: String
        public var out: Int
        public var inFeatures: Int

        /// A named shape.
        public init(name: String, out: Int, inFeatures: Int) {
            self.name = name; self.out = out; self.inFeatures = inFeatures
        }

        /// The distinct frozen-product shapes of a model: q, k, v, o, gate, up, down and the LM head.
        public static func of(_ c: LlamaConfig) -> [KernelShape] {
            let C = c.embeddingLength, kv = c.kvDim, F = c.feedForwardLength
            return [KernelShape(name: "q/o", out: C, inFeatures: C), KernelShape(name: "k/v", out: kv, inFeatures: C),
                    KernelShape(name: "gate/up", out: F, inFeatures: C), KernelShape(name: "down", out: C, inFeatures: F),
                    KernelShape(name: "lm_head", out: c.vocabSize, inFeatures: C)]
        }
    }

    /// The dequantizing products (`lk_qmatmul_fwd` and `lk_qmatmul_bwd_data`) on random weights of
    /// `type`, next to raw `cblas_sgemm` with the same threads on the same shapes: one report per
    /// shape and direction with the fraction of the sgemm speed reached.
    public static func kernels(shapes: [KernelShape], type: GGMLType, tokens T: Int, options o: BenchOptions) throws -> [BenchReport] {
        let pool = ThreadPool(threads: o.threads)
        var rng = SplitMix64(seed: 3)
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 } }
        var reports: [BenchReport] = []
        for s in shapes {
            let w = random(s.out * s.inFeatures)
            let q = try QuantizedMatrix.quantize(w, rows: s.out, cols: s.inFeatures, as: type)
            let x = random(T * max(s.out, s.inFeatures))
            var y = [Float](repeating: 0, count: T * max(s.out, s.inFeatures))
            let scratch = UnsafeMutableRawPointer.allocate(
                byteCount: max(64, lk_qmatmul_scratch_bytes(pool.raw, lk_type(rawValue: type.rawValue), Int64(s.out), Int64(s.inFeatures))),
                alignment: 64)
            defer { scratch.deallocate() }
            let flops = 2 * Double(T * s.out * s.inFeatures)
            for backward in [false, true] {
                func ours() {
                    q.withUnsafeBytes { wp in
                        y.withUnsafeMutableBufferPointer { yp in
                            if backward {
                                lk_qmatmul_bwd_data(pool.raw, scratch, yp.baseAddress, Int64(s.inFeatures), x, Int64(s.out),
                                                    lk_type(rawValue: type.rawValue), wp, Int64(s.out), Int64(s.inFeatures), Int64(T), 0)
                            } else {
                                lk_qmatmul_fwd(pool.raw, scratch, yp.baseAddress, Int64(s.out), x, Int64(s.inFeatures),
                                               lk_type(rawValue: type.rawValue), wp, Int64(s.out), Int64(s.inFeatures), Int64(T), 0)
                            }
                        }
                    }
                }
                func blas() {
                    openblas_set_num_threads(Int32(o.threads))
                    defer { openblas_set_num_threads(1) }
                    if backward {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(T), Int32(s.inFeatures), Int32(s.out), 1,
                                    x, Int32(s.out), w, Int32(s.inFeatures), 0, &y, Int32(s.inFeatures))
                    } else {
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(T), Int32(s.out), Int32(s.inFeatures), 1,
                                    x, Int32(s.inFeatures), w, Int32(s.inFeatures), 0, &y, Int32(s.out))
                    }
                }
                for _ in 0..<o.warmup { ours(); blas() }
                var mine: [Double] = [], theirs: [Double] = []
                for _ in 0..<max(1, o.repeats) {   // interleaved so both see the same machine load
                    mine.append(BenchSupport.time(ours))
                    theirs.append(BenchSupport.time(blas))
                }
                let med = BenchSupport.median(mine), ceil = flops / BenchSupport.median(theirs) / 1e9
                reports.append(BenchReport(
                    name: "\(backward ? "bwd_data" : "fwd") \(s.name) \(s.out)x\(s.inFeatures) T=\(T) \(type)",
                    threads: pool.threads, tokens: 0, seconds: mine, medianSeconds: med, tokensPerSecond: 0, flops: flops,
                    gflops: flops / med / 1e9, sgemmGFLOPS: ceil, ceilingFraction: flops / med / 1e9 / ceil,
                    peakRSSBytes: ProcessMemory.peakResidentBytes(), profile: [], frozenFraction: 1, notes: [:]))
            }
        }
        reports.append(poolDispatch(pool: pool, options: o))
        return reports
    }

    /// Cost of one pool run with an empty task (wake every worker, wait for all): the overhead each
    /// parallel op pays. Median over repetitions of 2,000 runs, reported per run.
    static func poolDispatch(pool: ThreadPool, options o: BenchOptions) -> BenchReport {
        let runs = 2000
        func burst() { for _ in 0..<runs { pool.parallel { _, _ in } } }
        for _ in 0..<o.warmup { burst() }
        let per = (0..<max(3, o.repeats)).map { _ in BenchSupport.time(burst) / Double(runs) }
        let med = BenchSupport.median(per)
        return BenchReport(name: "pool dispatch (empty task)", threads: pool.threads, tokens: 0, seconds: per, medianSeconds: med,
                           tokensPerSecond: 0, flops: 0, gflops: 0, sgemmGFLOPS: 0, ceilingFraction: 0,
                           peakRSSBytes: ProcessMemory.peakResidentBytes(), profile: [], frozenFraction: 0,
                           notes: ["per run": String(format: "%.2f µs", med * 1e6)])
    }
}
