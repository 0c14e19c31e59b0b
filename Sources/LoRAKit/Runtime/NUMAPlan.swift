/// How a run uses NUMA nodes (`--numa`).
public enum NUMAMode: String, Codable, Sendable, CaseIterable {
    /// `distribute` when the process may run on more than one node, else `off`.
    case auto
    /// Workers on every allowed node, pinned, grouped by node; each frozen matrix's output rows
    /// split across the nodes and copied into node-local memory.
    case distribute
    /// Only the node of the first allowed CPU: workers pinned to its CPUs, nothing placed.
    case isolate
    /// No pinning, no placement: the operating system schedules threads and places pages.
    case off
}

/// Errors of NUMA planning and placement.
public enum NUMAError: Error, CustomStringConvertible, Equatable {
    /// A thread count outside `1...NUMAPlan.maxThreads`.
    case invalidThreads(Int)
    /// The topology allows no CPU (an injected topology, or an empty affinity mask).
    case noAllowedCPUs
    /// A partition does not cover the rows of a matrix exactly once, or does not match `nodes`.
    case badPartition(tensor: String, detail: String)
    /// The kernel refused to bind memory to a node (`mbind`).
    case bindFailed(tensor: String, node: Int, bytes: Int, errno: Int32)
    /// Allocating the node-local copy failed.
    case allocationFailed(tensor: String, bytes: Int, errno: Int32)
    /// `move_pages` failed.
    case queryFailed(errno: Int32)

    public var description: String {
        switch self {
        case .invalidThreads(let n): return "threads must be in 1...\(NUMAPlan.maxThreads) (got \(n))"
        case .noAllowedCPUs: return "the NUMA topology allows no CPU"
        case .badPartition(let t, let d): return "NUMA partition of \(t.isEmpty ? "matrix" : t): \(d)"
        case .bindFailed(let t, let n, let b, let e):
            return "cannot bind \(b) bytes of \(t.isEmpty ? "matrix" : t) to NUMA node \(n): errno \(e)"
        case .allocationFailed(let t, let b, let e):
            return "cannot allocate \(b) bytes for a node-local copy of \(t.isEmpty ? "matrix" : t): errno \(e)"
        case .queryFailed(let e): return "move_pages failed: errno \(e)"
        }
    }
}

/// Where the workers of a run sit and how a matrix's rows are split among nodes: a pure function
/// of a `NUMATopology`, a thread count and a mode.
///
/// How the kernels use it:
/// - The thread pool is created with `poolCPUs` (worker `i` pinned to `workerCPUs[i]`). Workers
///   of one node are contiguous: `groups[g].workers`.
/// - Each frozen matrix W [out, in] is split by output rows with `rowPartition(rows:align:)`;
///   part `g` is copied into memory of `groups[g].memoryNode` (`NUMAPlacement.place`) when
///   `placesWeights` is true.
/// - The products split their work by row groups (`lk_qmatmul_fwd_grouped`,
///   `lk_qmatmul_bwd_data_grouped`): the pool's workers of group `g` own W's rows
///   `rowPartition(rows: out, align: 1)[g]`, the part placed on their node. Forward,
///   Y[T, out] = X[T, in]·Wᵀ: a group's workers compute the output columns of its rows.
///   Backward-data, dX[T, in] = dY[T, out]·W: each group sums over its own rows into its own
///   partial dX, and the partials are added in group order.
/// - The groups come from `rowGroupSizes(topology:threads:)` (the node split `distribute` would
///   use), not from the mode, so every mode sums in the same order: results are bitwise identical
///   across modes at a fixed thread count. One node means one group, the ungrouped products.
/// - LoRA A/B, their gradients and AdamW state are small; they live where they are first used.
public struct NUMAPlan: Codable, Sendable, Equatable {
    /// The workers of one node.
    public struct Group: Codable, Sendable, Equatable {
        /// The node these workers run on; nil when the plan does not pin (`off`).
        public var node: Int?
        /// The node whose memory holds this group's rows; nil when not placed by the plan.
        public var memoryNode: Int?
        /// Indices of this group's workers in the pool.
        public var workers: Range<Int>
        /// The distinct CPUs its workers are pinned to, sorted (empty when not pinned).
        public var cpus: [Int]
    }

    /// The mode asked for.
    public var requestedMode: NUMAMode
    /// The mode in effect: `distribute`, `isolate` or `off` (never `auto`).
    public var mode: NUMAMode
    /// Number of workers.
    public var threads: Int
    /// CPU of each worker (`workerCPUs[i]` for worker `i`); nil when workers are not pinned.
    public var workerCPUs: [Int]?
    /// Workers grouped by node, in node order; a single group when nothing is distributed.
    public var groups: [Group]
    /// Whether frozen matrices are split by rows and copied into node-local memory.
    public var placesWeights: Bool
    /// Human-readable remarks (oversubscription, nodes without memory, binding unavailable).
    public var notes: [String]

    /// CPUs for `ThreadPool(threads:cpus:)`; nil when not pinned.
    public var poolCPUs: [Int32]? { workerCPUs?.map { Int32($0) } }

    /// Memory node of each group for `NUMAPlacement.place(_:partition:nodes:)` (-1: not placed).
    public var partitionNodes: [Int] { groups.map { $0.memoryNode ?? -1 } }

    /// The group index of worker `w` (0 when out of range).
    public func group(ofWorker w: Int) -> Int {
        groups.firstIndex { $0.workers.contains(w) } ?? 0
    }

    /// Output rows of each worker: `rows` split into `threads` contiguous ranges of equal share,
    /// boundaries rounded down to multiples of `align` (the last range ends at `rows`). With
    /// `align` 1 the boundaries are `rows·i/threads`, the split of `lk_qmatmul_fwd`. Depends only
    /// on `threads`, not on the mode.
    public func workerRows(rows: Int, align: Int) -> [Range<Int>] {
        Self.split(count: rows, weights: Array(repeating: 1, count: threads), align: align)
    }

    /// Output rows of each group (one range per entry of `groups`): the union of its workers'
    /// `workerRows`, hence proportional to its worker count, aligned, and together covering
    /// `0..<rows` exactly once.
    public func rowPartition(rows: Int, align: Int) -> [Range<Int>] {
        Self.split(count: rows, weights: groups.map(\.workers.count), align: align)
    }

    /// Splits `0..<count` into `weights.count` contiguous ranges with lengths proportional to
    /// `weights`: inner boundary `k` is `count·(w₀+…+w_k)/Σw` rounded down to a multiple of
    /// `align`, so each length is within `align` of its exact share. Empty ranges are possible
    /// for small counts.
    public static func split(count: Int, weights: [Int], align: Int) -> [Range<Int>] {
        guard !weights.isEmpty else { return [] }
        let count = max(count, 0), align = max(align, 1)
        let w = weights.map { max($0, 0) }
        let total = w.reduce(0, +)
        let ws = total > 0 ? w : Array(repeating: 1, count: w.count)
        let sum = total > 0 ? total : w.count
        var bounds = [0]
        var cum = 0
        for k in 0..<(ws.count - 1) {
            cum += ws[k]
            // count·cum/sum rounded down to a multiple of align, in exact integer arithmetic
            let (num, overflow) = count.multipliedReportingOverflow(by: cum)
            let b = overflow ? Int(Double(count) * Double(cum) / Double(sum)) / align * align
                             : num / sum / align * align
            bounds.append(min(max(b, bounds.last!), count))
        }
        bounds.append(count)
        return (0..<ws.count).map { bounds[$0]..<bounds[$0 + 1] }
    }

    /// The largest thread count a plan accepts (the thread pool's limit).
    public static let maxThreads = 4096

    /// Plans a run on `topology`. `threads` nil means one worker per allowed physical core of the
    /// nodes used (at most `maxThreads`). Throws on `threads` outside `1...maxThreads` or a
    /// topology without allowed CPUs.
    public static func make(topology: NUMATopology, threads: Int? = nil, mode: NUMAMode) throws -> NUMAPlan {
        if let t = threads, t < 1 || t > maxThreads { throw NUMAError.invalidThreads(t) }
        let allowed = Set(topology.allowedCPUs)
        guard !allowed.isEmpty else { throw NUMAError.noAllowedCPUs }
        var notes: [String] = []
        // Nodes with allowed CPUs, and the CPUs in the order workers take them (one per core first).
        let usable: [(id: Int, order: [Int], cores: Int)] = topology.nodes.compactMap { n in
            let cpus = n.cpus.filter { allowed.contains($0) }
            guard !cpus.isEmpty else { return nil }
            let (order, cores) = workerOrder(cpus, topology)
            return (n.id, order, cores)
        }
        let orphans = allowed.filter { topology.node(ofCPU: $0) == nil }.sorted()
        if !orphans.isEmpty { notes.append("CPUs \(CPUSet.format(orphans)) belong to no listed node and are not used") }
        let totalCores = max(usable.reduce(0) { $0 + $1.cores }, usable.isEmpty ? allowed.count : 0)

        var resolved = mode
        if mode == .auto { resolved = usable.count > 1 ? .distribute : .off }
        if resolved != .off && usable.isEmpty {
            notes.append("no node lists the allowed CPUs; running unpinned")
            resolved = .off
        }
        if resolved == .off {
            let n = threads ?? min(totalCores, maxThreads)
            if n > allowed.count { notes.append("\(n) workers share \(allowed.count) allowed CPUs") }
            return NUMAPlan(requestedMode: mode, mode: .off, threads: n, workerCPUs: nil,
                            groups: [Group(node: nil, memoryNode: nil, workers: 0..<n, cpus: [])],
                            placesWeights: false, notes: notes)
        }
        // isolate: the node of the first allowed CPU; distribute: every usable node.
        var used = usable
        if resolved == .isolate, let first = topology.allowedCPUs.first,
           let node = topology.node(ofCPU: first) {
            used = usable.filter { $0.id == node }
        }
        let counts = workerCounts(threads ?? min(used.reduce(0) { $0 + $1.cores }, maxThreads), cores: used.map(\.cores))
        var cpusOfWorkers: [Int] = []
        var groups: [Group] = []
        for (g, count) in zip(used, counts) where count > 0 {
            let start = cpusOfWorkers.count
            let mine = (0..<count).map { g.order[$0 % g.order.count] }
            if count > g.order.count {
                notes.append("node \(g.id): \(count) workers share \(g.order.count) allowed CPUs")
            }
            cpusOfWorkers += mine
            let mem = memoryNode(for: g.id, topology)
            if mem == nil { notes.append("node \(g.id): no allowed memory node; its rows are not placed") }
            if let m = mem, m != g.id {
                notes.append("node \(g.id) has no allowed memory; its rows go to node \(m) (distance \(topology.distance(g.id, m)))")
            }
            groups.append(Group(node: g.id, memoryNode: mem, workers: start..<cpusOfWorkers.count,
                                cpus: Array(Set(mine)).sorted()))
        }
        let memNodes = Set(groups.compactMap(\.memoryNode))
        var places = resolved == .distribute && groups.count > 1 && memNodes.count > 1
        if places && !topology.canBindMemory {
            notes.append("memory binding is unavailable (numa_available() < 0, e.g. a container without CAP_SYS_NICE): weights are not placed")
            places = false
        }
        if !places { for i in groups.indices { groups[i].memoryNode = nil } }
        return NUMAPlan(requestedMode: mode, mode: resolved, threads: cpusOfWorkers.count,
                        workerCPUs: cpusOfWorkers, groups: groups, placesWeights: places, notes: notes)
    }

    /// The CPUs of one node in the order workers take them: the first CPU of every core, then
    /// the second SMT siblings, and so on. Also returns the number of cores.
    static func workerOrder(_ cpus: [Int], _ t: NUMATopology) -> ([Int], Int) {
        var byCore: [Int: [Int]] = [:]
        for c in cpus { byCore[t.coreKey(of: c), default: []].append(c) }
        let cores = byCore.values.map { $0.sorted() }.sorted { $0[0] < $1[0] }
        let depth = cores.map(\.count).max() ?? 0
        var order: [Int] = []
        for level in 0..<depth { for core in cores where level < core.count { order.append(core[level]) } }
        return (order, cores.count)
    }

    /// Splits `n` workers among nodes in proportion to their core counts (largest remainder);
    /// every node gets one when `n` allows, else the nodes with the most cores get one each.
    static func workerCounts(_ n: Int, cores: [Int]) -> [Int] {
        let k = cores.count
        guard k > 0 else { return [] }
        if n < k {
            let pick = cores.indices.sorted { (cores[$0], -$0) > (cores[$1], -$1) }.prefix(n)
            return cores.indices.map { pick.contains($0) ? 1 : 0 }
        }
        let total = max(cores.reduce(0, +), 1)
        var counts = cores.map { n * $0 / total }
        let byRemainder = cores.indices.sorted { (n * cores[$0] % total, -$0) > (n * cores[$1] % total, -$1) }
        var left = n - counts.reduce(0, +)
        for i in byRemainder where left > 0 { counts[i] += 1; left -= 1 }
        while let zero = counts.firstIndex(of: 0), let big = counts.indices.max(by: { counts[$0] < counts[$1] }),
              counts[big] > 1 {
            counts[zero] += 1
            counts[big] -= 1
        }
        return counts
    }

    /// The node whose memory should hold rows computed on `node`: itself when allowed and it has
    /// memory, else the nearest allowed node with memory; nil when there is none.
    static func memoryNode(for node: Int, _ t: NUMATopology) -> Int? {
        let candidates = t.nodes.filter { $0.memoryBytes > 0 && t.allowedMemoryNodes.contains($0.id) }.map(\.id)
        if candidates.contains(node) { return node }
        return candidates.min { (t.distance(node, $0), $0) < (t.distance(node, $1), $1) }
    }
}
