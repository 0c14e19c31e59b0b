import CKernels
import Foundation

/// What to benchmark: shape, threads and repetitions.
public struct BenchOptions: Sendable {
    /// Sequences per step.
    public var batch: Int = 4
    /// Tokens per sequence.
    public var sequence: Int = 256
    /// Pool threads.
    public var threads: Int = 2
    /// Measured repetitions (median reported).
    public var repeats: Int = 5
    /// Unmeasured repetitions first.
    public var warmup: Int = 1
    /// Adapter (rank 8, alpha 16, q_proj+v_proj by default).
    public var lora = LoRAConfig()
    /// Also measure raw cblas_sgemm on the same shapes.
    public var measureCeiling = true
    /// Arithmetic of the frozen-weight products.
    public var precision: ComputePrecision = .fp32
    /// Per-layer activation checkpointing in `train` (less memory, one more forward per layer).
    public var checkpointing = false

    /// Defaults: seq 256 × batch 4, 2 threads, 5 repetitions.
    public init() {}
}

/// Benchmarks of the training step and of the forward pass on a loaded model.
public enum Bench {
    /// Shapes (out, in, count) of the frozen products of one forward pass over all layers plus the LM head.
    static func frozenShapes(_ w: ModelWeights) -> [(out: Int, in: Int, count: Int)] {
        var s: [(out: Int, in: Int, count: Int)] = []
        let l = w.layers[0]
        for m in [l.q, l.k, l.v, l.o, l.gate, l.up, l.down] { s.append((m.rows, m.cols, w.layers.count)) }
        let h = w.output ?? w.tokenEmbedding
        s.append((h.rows, h.cols, 1))
        return s
    }

    /// Flops of the frozen products of one forward pass at `T` tokens.
    static func forwardFlops(_ w: ModelWeights, tokens T: Int) -> Double {
        frozenShapes(w).reduce(0) { $0 + 2 * Double(T * $1.out * $1.in * $1.count) }
    }

    /// Full training steps (forward, backward, AdamW) on random tokens: median time, tokens/s,
    /// GFLOP/s of the frozen products (forward + backward-data), the sgemm ceiling, peak RSS and
    /// a per-op profile of one extra step.
    public static func train(weights: ModelWeights, options o: BenchOptions) throws -> BenchReport {
        let params = try LoRAParameters(config: o.lora, weights: weights)
        let pool = ThreadPool(threads: o.threads)
        let stepper = LoRAStepper(weights: weights, parameters: params, batch: o.batch, sequence: o.sequence,
                                  checkpointing: o.checkpointing, optimizer: AdamWConfig(), pool: pool)
        stepper.graph.precision = o.precision
        let T = o.batch * o.sequence
        let (tokens, targets) = randomBatch(T: T, vocab: weights.config.vocabSize, seed: 1)
        func step() {
            _ = stepper.accumulate(tokens: tokens, targets: targets, gradScale: 1 / Float(T))
            stepper.applyUpdate(learningRate: 1e-4)
        }
        for _ in 0..<o.warmup { step() }
        var times: [Double] = []
        for _ in 0..<max(1, o.repeats) { times.append(BenchSupport.time(step)) }
        let prof = OpProfile()
        stepper.graph.profile = prof
        let stepTime = BenchSupport.time {
            _ = stepper.accumulate(tokens: tokens, targets: targets, gradScale: 1 / Float(T))
            let t0 = OpProfile.now()
            stepper.applyUpdate(learningRate: 1e-4)
            prof.add("adamw", seconds: OpProfile.now() - t0)
        }
        stepper.graph.profile = nil
        prof.add("other (untimed)", seconds: max(0, stepTime - prof.totalSeconds))

        // Backward-data runs for every layer at or above the lowest adapted one (its input grad is skipped).
        let lowest = params.slots.map(\.layer).min() ?? weights.layers.count
        let L = weights.layers.count
        let fwd = forwardFlops(weights, tokens: T)
        let layerFlops = (fwd - headFlops(weights, T)) / Double(L)
        let bwd = headFlops(weights, T) + layerFlops * Double(L - lowest)
            - 2 * Double(T) * Double(qkvFlopsPerToken(weights)) // the lowest layer skips q/k/v input grads
        let flops = fwd + bwd
        let med = BenchSupport.median(times)
        let ceiling = o.measureCeiling
            ? BenchSupport.sgemmCeiling(shapes: frozenShapes(weights), tokens: T, threads: o.threads, backward: true) : 0
        let frozen = prof.seconds(prefix: "frozen")
        return BenchReport(
            name: "train", threads: pool.threads, tokens: T, seconds: times, medianSeconds: med,
            tokensPerSecond: Double(T) / med, flops: flops, gflops: flops / med / 1e9, sgemmGFLOPS: ceiling,
            ceilingFraction: ceiling > 0 ? (flops / frozen / 1e9) / ceiling : 0,
            peakRSSBytes: ProcessMemory.peakResidentBytes(), profile: prof.entries,
            frozenFraction: frozen / stepTime,
            notes: ["shape": "batch \(o.batch) × seq \(o.sequence)", "precision": o.precision.rawValue,
                    "checkpointing": o.checkpointing ? "on (flops count forward + backward only)" : "off",
                    "lora": "r=\(o.lora.rank) alpha=\(o.lora.alpha) \(o.lora.targets.map(\.rawValue).joined(separator: ","))",
                    "ceilingFraction": "GFLOP/s inside the frozen products (profiled step) / sgemm ceiling",
                    "frozenProductGFLOPS": String(format: "%.2f", flops / frozen / 1e9)])
    }

    /// Forward passes (logits, no loss) over `options.batch × options.sequence` tokens — the prompt
    /// processing of a 512-token prompt is batch 1 × sequence 512.
    public static func forward(weights: ModelWeights, options o: BenchOptions) throws -> BenchReport {
        let pool = ThreadPool(threads: o.threads)
        let graph = LlamaGraph(weights: weights, lora: nil, batch: o.batch, sequence: o.sequence, training: false,
                               checkpointing: false, pool: pool)
        graph.precision = o.precision
        let T = o.batch * o.sequence
        let (tokens, targets) = randomBatch(T: T, vocab: weights.config.vocabSize, seed: 2)
        graph.setBatch(tokens: tokens, targets: targets)
        func pass() { _ = graph.run(backward: false, gradScale: 0) }
        for _ in 0..<o.warmup { pass() }
        var times: [Double] = []
        for _ in 0..<max(1, o.repeats) { times.append(BenchSupport.time(pass)) }
        let prof = OpProfile()
        graph.profile = prof
        let passTime = BenchSupport.time(pass)
        graph.profile = nil
        prof.add("other (untimed)", seconds: max(0, passTime - prof.totalSeconds))
        let flops = forwardFlops(weights, tokens: T)
        let med = BenchSupport.median(times)
        let ceiling = o.measureCeiling
            ? BenchSupport.sgemmCeiling(shapes: frozenShapes(weights), tokens: T, threads: o.threads, backward: false) : 0
        let frozen = prof.seconds(prefix: "frozen")
        return BenchReport(
            name: "forward", threads: pool.threads, tokens: T, seconds: times, medianSeconds: med,
            tokensPerSecond: Double(T) / med, flops: flops, gflops: flops / med / 1e9, sgemmGFLOPS: ceiling,
            ceilingFraction: ceiling > 0 ? (flops / frozen / 1e9) / ceiling : 0,
            peakRSSBytes: ProcessMemory.peakResidentBytes(), profile: prof.entries, frozenFraction: frozen / passTime,
            notes: ["shape": "batch \(o.batch) × seq \(o.sequence)", "precision": o.precision.rawValue, "includes": "embedding, all layers, LM head + loss"])
    }

    static func headFlops(_ w: ModelWeights, _ T: Int) -> Double {
        let h = w.output ?? w.tokenEmbedding
        return 2 * Double(T * h.rows * h.cols)
    }

    static func qkvFlopsPerToken(_ w: ModelWeights) -> Int {
        let l = w.layers[0]
        return l.q.rows * l.q.cols + l.k.rows * l.k.cols + l.v.rows * l.v.cols
    }

    /// Seeded random tokens in [0, vocab) and their next-token targets (last of each row unscored).
    static func randomBatch(T: Int, vocab: Int, seed: UInt64) -> ([Int32], [Int32]) {
        var rng = SplitMix64(seed: seed)
        let tokens = (0..<T).map { _ in Int32(rng.next() % UInt64(vocab)) }
        var targets = Array(tokens.dropFirst()) + [-1]
        targets[T - 1] = -1
        return (tokens, targets)
    }
}

extension Bench {
    /// Losses of `steps` AdamW steps (lr 1e-3) on one fixed seeded batch from the same initial adapter,
    /// for comparing precisions: the fp32 and bf16 curves of one model side by side.
    public static func lossCurve(weights: ModelWeights, options o: BenchOptions, steps: Int, seed: UInt64 = 5) throws -> [Double] {
        let params = try LoRAParameters(config: o.lora, weights: weights)
        let pool = ThreadPool(threads: o.threads)
        let stepper = LoRAStepper(weights: weights, parameters: params, batch: o.batch, sequence: o.sequence,
                                  checkpointing: false, optimizer: AdamWConfig(), pool: pool)
        stepper.graph.precision = o.precision
        let T = o.batch * o.sequence
        let (tokens, targets) = randomBatch(T: T, vocab: weights.config.vocabSize, seed: seed)
        var losses: [Double] = []
        for _ in 0..<max(0, steps) {
            let l = stepper.accumulate(tokens: tokens, targets: targets, gradScale: 1 / Float(max(1, T - o.batch)))
            stepper.applyUpdate(learningRate: 1e-3)
            losses.append(l.mean)
        }
        return losses
    }
}
