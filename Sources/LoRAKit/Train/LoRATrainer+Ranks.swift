import Foundation

/// The data-parallel side of training: which micro-batches a rank computes, how the step's gradient
/// and loss are summed over ranks, and the check that all ranks train the same thing.
extension LoRATrainer {
    /// Forward and backward of this rank's share of a step's micro-batches (global index j·N + rank in
    /// round j), the gradients summed over ranks in global order into the graph's gradient buffer.
    /// Returns the step's loss sum over all ranks, added in global order.
    func accumulateGradients(_ micro: [TokenBatch], step: Int, targets: Int) throws -> Double {
        guard targets > 0 else { return 0 }
        let ranks = communicator.size, rounds = config.gradientAccumulation
        var losses = [Double](repeating: 0, count: rounds)
        reducer.begin()
        for j in 0..<rounds {
            let i = j * ranks + communicator.rank, b = micro[i]
            stepper.graph.grads.zero()
            if b.targetCount > 0 {
                // Dropout masks follow the global micro-batch index: any N gives the same masks.
                let seed = SplitMix64.mix(config.seed &+ UInt64(step &* 64 &+ i) &* 0x9E37_79B9_7F4A_7C15)
                losses[j] = stepper.accumulate(tokens: b.tokens, targets: b.targets, positions: b.positions, gradScale: 1 / Float(targets),
                                              dropoutSeed: seed).sum
            }
            try reducer.add(stepper.graph.grads, contributes: (0..<ranks).map { micro[j * ranks + $0].targetCount > 0 })
        }
        try reducer.finish(into: stepper.graph.grads)
        let all = try communicator.allGather(losses)   // rank-major: rank q's rounds 0..<k
        var sum = 0.0
        for (i, b) in micro.enumerated() where b.targetCount > 0 { sum += all[(i % ranks) * rounds + i / ranks] }
        return sum
    }

    /// Every rank must hold the same model, data, resume-defining configuration and state (step, data
    /// position, factors): each computes its share of a batch sequence it builds itself, so a rank
    /// with another data file would silently train on something else. One small all-gather; throws
    /// on every rank, naming the first rank that differs from rank 0.
    func checkRanksAgree(data: DataIdentity) throws {
        guard communicator.size > 1 else { return }
        var h = FNV64()
        h.add(ModelIdentity(model).fingerprint)
        h.add(data.fingerprint)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        var defining = config.resumeDefining
        defining.threads = nil
        h.add((try? enc.encode(defining)) ?? Data())
        h.add("\(step);\(dataPosition);\(stepper.optimizer.step)")
        let p = stepper.graph.params
        h.add(UnsafeRawBufferPointer(start: p.ptr, count: p.bytes))
        // Two exact 32-bit halves per rank (a Double holds 53 bits).
        let all = try communicator.allGather([Double(h.value >> 32), Double(h.value & 0xFFFF_FFFF)])
        for r in 1..<communicator.size where all[2 * r] != all[0] || all[2 * r + 1] != all[1] {
            throw TrainingError.modelMismatch("rank \(r) of \(communicator.size) does not train what rank 0 trains: its model, data (\(data.path)), "
                + "configuration or resumed state differ; every rank needs the same files at the same paths and the same options")
        }
    }
}

extension LoRATrainer {
    /// What a data-parallel run does (nil for one process): ranks, the global batch, and that the
    /// memory budget is per rank.
    public var dataParallelLine: String? {
        let comm = communicator, c = config
        guard comm.size > 1 else { return nil }
        let sequences = c.batchSize * globalAccumulation
        return "data parallel: \(comm.size) ranks, \(c.threads.map { "\($0) thread(s)" } ?? "one thread per allowed core") each; "
            + "global batch \(sequences) sequences × \(c.sequenceLength) tokens per step "
            + "(batch \(c.batchSize) × gradient accumulation \(c.gradientAccumulation) × \(comm.size) ranks; rank r takes micro-batches r, r+\(comm.size), …); "
            + "the memory budget above is per rank (ranks on one node each hold their own activations, LoRA state and scratch; "
            + "the memory-mapped base is shared through the page cache)"
    }
}
