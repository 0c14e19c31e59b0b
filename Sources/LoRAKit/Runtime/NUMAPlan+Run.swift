/// Turning a `NUMAPlan` into a run: the pool (pinned workers in node groups) and the weights
/// (row parts copied into node-local memory).
///
/// Bitwise reproducibility across modes: the frozen products split their work by *row groups*
/// (`lk_qmatmul_*_grouped`), and the groups come from `rowGroupSizes(topology:threads:)`, which
/// depends on the topology and the thread count but not on the mode. So `off`, `auto`, `isolate`
/// and `distribute` at the same thread count compute the same sums in the same order; the mode
/// only decides where threads run and where the weight bytes live. On a one-node machine there is
/// one group, which is exactly the ungrouped products.
extension NUMAPlan {
    /// Workers per row group of the frozen products for a pool of `threads` on `topology`: the
    /// workers per node `distribute` would use (nodes with allowed CPUs, in proportion to their
    /// cores), whatever the mode; `[threads]` when there is one such node.
    public static func rowGroupSizes(topology: NUMATopology, threads: Int) -> [Int] {
        guard threads >= 1, let d = try? make(topology: topology, threads: threads, mode: .distribute),
              d.mode == .distribute else { return [max(threads, 1)] }
        let sizes = d.groups.map(\.workers.count)
        return sizes.count > 1 && sizes.reduce(0, +) == threads && sizes.allSatisfy({ $0 > 0 }) ? sizes : [threads]
    }

    /// The plan of a run with `threads` workers (nil: one per allowed core when pinned; when not
    /// pinned, `ThreadPool.defaultThreadCount` as runs without NUMA planning use).
    public static func forRun(topology: NUMATopology, threads: Int?, mode: NUMAMode) throws -> NUMAPlan {
        let plan = try make(topology: topology, threads: threads, mode: mode)
        guard threads == nil, plan.mode == .off else { return plan }
        return try make(topology: topology, threads: min(ThreadPool.defaultThreadCount, maxThreads), mode: mode)
    }

    /// One line for a run's log, e.g. `NUMA: auto → distribute, 2 nodes: node 0 16 workers (cpus 0-15),
    /// node 1 16 workers (cpus 16-31); weights split by rows into node-local memory`.
    public var summaryLine: String {
        let modeText = requestedMode == mode ? mode.rawValue : "\(requestedMode.rawValue) → \(mode.rawValue)"
        var s = "NUMA: \(modeText), "
        if workerCPUs == nil {
            s += "\(threads) worker\(threads == 1 ? "" : "s") not pinned"
        } else {
            let nodes = groups.count
            s += "\(nodes) node\(nodes == 1 ? "" : "s"): " + groups.map { g in
                "node \(g.node.map(String.init) ?? "-") \(g.workers.count) worker\(g.workers.count == 1 ? "" : "s") (cpus \(CPUSet.format(g.cpus)))"
            }.joined(separator: ", ")
        }
        s += placesWeights ? "; weights split by rows into node-local memory" : "; weights stay where loaded"
        if !notes.isEmpty { s += " (" + notes.joined(separator: "; ") + ")" }
        return s
    }
}

extension ThreadPool {
    /// A pool for `plan`: `plan.threads` workers, pinned to `plan.poolCPUs` when the plan pins,
    /// in the row groups of `NUMAPlan.rowGroupSizes(topology:threads:)`.
    public convenience init(plan: NUMAPlan, topology: NUMATopology) {
        self.init(threads: plan.threads, cpus: plan.poolCPUs,
                  groupSizes: NUMAPlan.rowGroupSizes(topology: topology, threads: plan.threads))
    }
}

extension ModelWeights {
    /// These weights with every matrix the frozen products read (the seven per layer and the LM
    /// head) copied into node-local memory by `plan` (`NUMAPlacement.place`, rows split with
    /// `plan.rowPartition(rows:align: 1)`, the split of the grouped products). Returns `self` (the
    /// memory map stays) when the plan places nothing. Norms and the untied token embedding (read a
    /// few rows at a time) are shared with `self`.
    public func placed(by plan: NUMAPlan) throws -> ModelWeights {
        guard plan.placesWeights else { return self }
        func put(_ m: QuantizedMatrix, _ name: String) throws -> QuantizedMatrix {
            try NUMAPlacement.place(m, plan: plan, align: 1, name: name)
        }
        let placedLayers = try layers.enumerated().map { l, w in
            LayerWeights(attnNorm: w.attnNorm, ffnNorm: w.ffnNorm,
                         q: try put(w.q, "blk.\(l).attn_q.weight"), k: try put(w.k, "blk.\(l).attn_k.weight"),
                         v: try put(w.v, "blk.\(l).attn_v.weight"), o: try put(w.o, "blk.\(l).attn_output.weight"),
                         gate: try put(w.gate, "blk.\(l).ffn_gate.weight"), up: try put(w.up, "blk.\(l).ffn_up.weight"),
                         down: try put(w.down, "blk.\(l).ffn_down.weight"))
        }
        let head = try output.map { try put($0, "output.weight") }
        let embedding = output == nil ? try put(tokenEmbedding, "token_embd.weight") : tokenEmbedding
        return ModelWeights(config: config, tokenEmbedding: embedding, outputNorm: outputNorm, output: head,
                            ropeFreqFactors: ropeFreqFactors, layers: placedLayers, source: source, gguf: gguf)
    }
}
