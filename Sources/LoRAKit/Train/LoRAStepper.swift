import CKernels

/// Forward, backward and AdamW over a fixed batch shape: the core of a training run, without data
/// handling. Gradients accumulate over micro-batches until `applyUpdate` steps the optimizer.
final class LoRAStepper {
    let graph: LlamaGraph
    let optimizer: AdamWState

    init(weights: ModelWeights, parameters: LoRAParameters, batch: Int, sequence: Int, checkpointing: Bool,
         optimizer config: AdamWConfig, pool: ThreadPool) {
        graph = LlamaGraph(weights: weights, lora: parameters, batch: batch, sequence: sequence, training: true,
                           checkpointing: checkpointing, pool: pool)
        optimizer = AdamWState(count: parameters.count, config: config, slots: parameters.slots)
        if parameters.config.quantGrid {
            graph.quantGrid = QuantGridLoRA(weights: weights, parameters: parameters, rows: batch * sequence)
        }
        refreshGrid()
    }

    /// Grid-exact quant-aware LoRA: recomputes the rounding corrections from the current factors (after every update,
    /// and after the factors are replaced, e.g. on resume). QuantGridLoRA.swift.
    func refreshGrid() {
        graph.quantGrid?.refresh(graph.params.ptr)
    }

    /// Runs forward and backward on one micro-batch; gradients of `gradScale · Σ token losses` are added
    /// to `graph.grads` (the trainer zeroes them first and sums micro-batches itself: `GradientReducer`).
    /// `positions`: the batch's RoPE positions with packing (`TokenBatch.positions`; empty or nil: 0..<S per row).
    func accumulate(tokens: [Int32], targets: [Int32], positions: [Int32]? = nil, gradScale: Float,
                    dropoutSeed: UInt64 = 0) -> LlamaGraph.LossSum {
        graph.setBatch(tokens: tokens, targets: targets, positions: positions)
        graph.dropoutSeed = dropoutSeed
        return graph.run(backward: true, gradScale: gradScale)
    }

    /// Steps AdamW with the accumulated gradients, then clears them. Returns the gradient norm.
    @discardableResult
    func applyUpdate(learningRate: Float) -> Double {
        projectQuantAware()
        let norm = optimizer.update(params: graph.params, grads: graph.grads, lr: learningRate)
        graph.grads.zero()
        refreshGrid()
        return norm
    }

    /// Steps AdamW unless the loss or the gradient norm is not finite; then the gradients are dropped
    /// and the parameters stay as they were (a non-finite value never reaches the adapter).
    func applyUpdateIfFinite(learningRate: Float, lossIsFinite: Bool) -> (gradNorm: Double, skipped: Bool) {
        projectQuantAware()
        let norm = AdamWState.gradNorm(graph.grads)
        guard lossIsFinite, norm.isFinite else {
            graph.grads.zero()
            return (norm, true)
        }
        optimizer.update(params: graph.params, grads: graph.grads, lr: learningRate, gradNorm: norm)
        graph.grads.zero()
        refreshGrid()
        return (norm, false)
    }

    /// Quant-aware LoRA: keeps A group-constant by stepping with the group-mean gradient (QuantAwareLoRA.swift).
    private func projectQuantAware() {
        guard let lora = graph.lora, lora.quantAware else { return }
        QuantAwareLoRA.projectGradients(graph.grads.ptr, slots: graph.slots, rank: lora.rank)
    }

    /// Loss of a batch without gradients (same buffers; no state changes).
    func evaluate(tokens: [Int32], targets: [Int32], positions: [Int32]? = nil) -> LlamaGraph.LossSum {
        graph.setBatch(tokens: tokens, targets: targets, positions: positions)
        return graph.run(backward: false, gradScale: 0)
    }

    /// Current factor values in the `LoRAParameters` layout.
    var values: [Float] { graph.params.array() }
}
