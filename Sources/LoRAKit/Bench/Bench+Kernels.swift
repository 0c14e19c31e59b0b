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
    /// shape and direction with the fraction of the sgemm speed reached. For a type other than Q4_1 the same
    /// products on Q4_1 weights of the same shape are timed interleaved with them (note `vs Q4_1`: time
    /// ratio, >1 = slower), and the bf16 products of both types too (reports named `… bf16`). Types with an int8 path
    /// also get the int8 products (`… int8`), timed interleaved with the bf16 ones (note `vs bf16`). A K-quant asked
    /// for a shape whose `in` is not a multiple of 256 is benchmarked in llama-quantize's fallback type
    /// (`GGMLType.storable(cols:)`), as a Q4_K_M file holds it.
    public static func kernels(shapes: [KernelShape], type: GGMLType, tokens T: Int, options o: BenchOptions) throws -> [BenchReport] {
        let pool = ThreadPool(threads: o.threads)
        var rng = SplitMix64(seed: 3)
        func random(_ n: Int) -> [Float] { (0..<n).map { _ in Float(rng.next() >> 40) / Float(1 << 24) - 0.5 } }
        var reports: [BenchReport] = []
        // The instruction ceilings, timed once on this thread (per core; × threads for the products).
        let peaks = Dictionary(uniqueKeysWithValues: InstructionPeak.measureAll(seconds: 0.1).map { ($0.precision, $0) })
        for s in shapes {
            let t = type.storable(cols: s.inFeatures)
            let w = random(s.out * s.inFeatures)
            let q = try QuantizedMatrix.quantize(w, rows: s.out, cols: s.inFeatures, as: t)
            let q41 = type == .q4_1 ? nil : try QuantizedMatrix.quantize(w, rows: s.out, cols: s.inFeatures, as: .q4_1)
            let x = random(T * max(s.out, s.inFeatures))
            var y = [Float](repeating: 0, count: T * max(s.out, s.inFeatures))
            let scratchBytes = max([q, q41].compactMap { $0 }.map {
                lk_qmatmul_scratch_bytes(pool.raw, $0.type.lk, Int64(s.out), Int64(s.inFeatures))
            }.max() ?? 0, lk_bf16_scratch_bytes(Int32(pool.threads), Int64(T), Int64(max(s.out, s.inFeatures))),
                                   lk_int8_scratch_bytes(Int32(pool.threads), Int64(T), Int64(max(s.out, s.inFeatures))))
            let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(64, scratchBytes), alignment: 64)
            defer { scratch.deallocate() }
            let flops = 2 * Double(T * s.out * s.inFeatures)
            // One product of W (fp32, bf16 or int8, forward or backward-data) into y.
            func product(_ m: QuantizedMatrix, backward: Bool, precision: ComputePrecision) {
                m.withUnsafeBytes { wp in
                    y.withUnsafeMutableBufferPointer { yp in
                        let (out, inn, tt) = (Int64(s.out), Int64(s.inFeatures), m.type.lk)
                        switch (backward, precision) {
                        case (true, .fp32): lk_qmatmul_bwd_data(pool.raw, scratch, yp.baseAddress, inn, x, out, tt, wp, out, inn, Int64(T), 0)
                        case (false, .fp32): lk_qmatmul_fwd(pool.raw, scratch, yp.baseAddress, out, x, inn, tt, wp, out, inn, Int64(T), 0)
                        case (true, .bf16): lk_qmatmul_bwd_data_bf16(pool.raw, scratch, yp.baseAddress, inn, x, out, tt, wp, out, inn, Int64(T), 0)
                        case (false, .bf16): lk_qmatmul_fwd_bf16(pool.raw, scratch, yp.baseAddress, out, x, inn, tt, wp, out, inn, Int64(T), 0)
                        case (true, .int8): lk_qmatmul_bwd_data_int8(pool.raw, scratch, yp.baseAddress, inn, x, out, tt, wp, out, inn, Int64(T), 0)
                        case (false, .int8): lk_qmatmul_fwd_int8(pool.raw, scratch, yp.baseAddress, out, x, inn, tt, wp, out, inn, Int64(T), 0)
                        }
                    }
                }
            }
            let int8: [ComputePrecision] = lk_int8_type_supported(t.lk) != 0 && s.out % 32 == 0 ? [.int8] : []
            for precision in (q41 == nil ? [.fp32] : [.fp32, .bf16]) + int8 {
                for backward in [false, true] {
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
                    // int8 is compared with bf16 on the same W; the other precisions with Q4_1 (when W is another type).
                    let other: (m: QuantizedMatrix, p: ComputePrecision)? = precision == .int8 ? (q, .bf16) : q41.map { ($0, precision) }
                    for _ in 0..<o.warmup { product(q, backward: backward, precision: precision); blas(); if let other { product(other.m, backward: backward, precision: other.p) } }
                    var mine: [Double] = [], theirs: [Double] = [], ref: [Double] = []
                    for _ in 0..<max(1, o.repeats) {   // interleaved so all see the same machine load
                        mine.append(BenchSupport.time { product(q, backward: backward, precision: precision) })
                        theirs.append(BenchSupport.time(blas))
                        if let other { ref.append(BenchSupport.time { product(other.m, backward: backward, precision: other.p) }) }
                    }
                    let med = BenchSupport.median(mine), ceil = flops / BenchSupport.median(theirs) / 1e9
                    var notes: [String: String] = [:]
                    if let p = peaks[precision], p.opsPerSecond > 0 {
                        let ceiling = p.opsPerSecond * Double(pool.threads)
                        notes["instruction peak"] = String(format: "%.0f%% of %@ × %d threads (%.0f G/s per thread)",
                                                           100 * flops / med / ceiling, p.instruction, pool.threads, p.opsPerSecond / 1e9)
                    }
                    if precision == .int8 {
                        let r = BenchSupport.median(ref)
                        notes["vs bf16"] = String(format: "bf16 %.4f s, int8 %.4f s: int8 %.2fx the bf16 speed (same W, same run)", r, med, r / med)
                    } else if !ref.isEmpty {
                        let r = BenchSupport.median(ref)
                        notes["vs Q4_1"] = String(format: "Q4_1 %.4f s, %@ %.4f s: ratio %.3f (same shape, same run)", r, "\(t)", med, med / r)
                    }
                    reports.append(BenchReport(
                        name: "\(backward ? "bwd_data" : "fwd") \(s.name) \(s.out)x\(s.inFeatures) T=\(T) \(t)\(precision == .fp32 ? "" : " \(precision.rawValue)")",
                        threads: pool.threads, tokens: 0, seconds: mine, medianSeconds: med, tokensPerSecond: 0, flops: flops,
                        gflops: flops / med / 1e9, sgemmGFLOPS: ceil, ceilingFraction: flops / med / 1e9 / ceil,
                        peakRSSBytes: ProcessMemory.peakResidentBytes(), profile: [], frozenFraction: 1, notes: notes))
                }
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
