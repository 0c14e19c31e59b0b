import Foundation

extension LoRATrainer {
    /// The run's full state after the last completed step.
    public func makeCheckpoint(totalSteps: Int, data: DataIdentity) -> TrainingCheckpoint {
        let opt = stepper.optimizer
        return TrainingCheckpoint(header: checkpointHeader(totalSteps: totalSteps, data: data), parameters: stepper.values,
                                  adamM: opt.m.array(), adamV: opt.v.array())
    }

    func checkpointHeader(totalSteps: Int, data: DataIdentity) -> CheckpointHeader {
        CheckpointHeader(format: CheckpointHeader.currentFormat, step: step, totalSteps: totalSteps,
                         optimizerStep: stepper.optimizer.step, dataPosition: dataPosition, skippedSteps: skippedSteps,
                         nonFiniteRun: nonFiniteRun, parameterCount: stepper.graph.params.count, config: config,
                         model: ModelIdentity(model), data: data, worldSize: communicator.size > 1 ? communicator.size : nil)
    }

    /// Saves the run's state into `store` straight from the trainer's buffers (the same bytes as
    /// `store.save(makeCheckpoint(...))` without holding a copy of factors and moments).
    func saveCheckpoint(to store: CheckpointStore, totalSteps: Int, data: DataIdentity) throws -> String {
        let p = stepper.graph.params, m = stepper.optimizer.m, v = stepper.optimizer.v
        return try store.save(header: checkpointHeader(totalSteps: totalSteps, data: data),
                              parameters: UnsafeBufferPointer(start: p.ptr, count: p.count),
                              adamM: UnsafeBufferPointer(start: m.ptr, count: m.count),
                              adamV: UnsafeBufferPointer(start: v.ptr, count: v.count))
    }

    /// Continues from a checkpoint: factors, AdamW moments and step, run step, data position and
    /// skip counters. Refused (nothing changed) when the checkpoint belongs to another model, other
    /// data or a configuration that would give other numbers; `path` names it in the error.
    public func restore(from c: TrainingCheckpoint, data: TokenizedDataset, path: String = "checkpoint") throws {
        let h = c.header
        // Another number of ranks may resume: its grad-accum is per rank, so that field is not compared then.
        let ranksThen = h.worldSize ?? 1, ranksNow = communicator.size
        var compared = config
        if ranksThen != ranksNow { compared.gradientAccumulation = h.config.gradientAccumulation }
        var why = h.incompatibilities(config: compared, model: ModelIdentity(model), data: DataIdentity(data))
        if h.parameterCount != stepper.graph.params.count {
            why.append("it holds \(h.parameterCount) LoRA parameters, this run has \(stepper.graph.params.count)")
        }
        if c.parameters.count != h.parameterCount || c.adamM.count != h.parameterCount || c.adamV.count != h.parameterCount {
            why.append("its arrays do not match its header")
        }
        if !why.isEmpty { throw CheckpointError.incompatible(path, why) }
        guard h.step >= 0, h.optimizerStep >= 0, h.optimizerStep <= h.step, h.skippedSteps >= 0, h.nonFiniteRun >= 0 else {
            throw CheckpointError.corrupt(path, "step counters are inconsistent (step \(h.step), optimizer step \(h.optimizerStep))")
        }
        // The data position must be valid for this data set (BatchIterator checks the same).
        _ = try BatchIterator(dataset: data, batchSize: config.batchSize, sequenceLength: config.sequenceLength,
                              packing: config.packing, shuffle: true, seed: config.seed, start: h.dataPosition)
        stepper.graph.params.copy(from: c.parameters)
        stepper.refreshGrid()
        stepper.graph.grads.zero()
        stepper.optimizer.restore(m: c.adamM, v: c.adamV, step: h.optimizerStep)
        step = h.step
        dataPosition = h.dataPosition
        skippedSteps = h.skippedSteps
        nonFiniteRun = h.nonFiniteRun
        resumeNote = nil
        if ranksThen != ranksNow {
            let before = h.config.gradientAccumulation * ranksThen, now = globalAccumulation
            resumeNote = "the checkpoint ran on \(ranksThen) rank(s) × grad-accum \(h.config.gradientAccumulation), now \(ranksNow) × \(config.gradientAccumulation): "
                + (before == now ? "the same \(now) micro-batches per step, so the numbers continue as they would have (bit for bit with the same threads per rank)"
                                 : "\(before) → \(now) micro-batches per step; the run continues but will not match an uninterrupted one")
        }
    }
}
