import ArgumentParser
import Foundation
import LoRAKit


struct TopologyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology",
        abstract: "Show NUMA nodes, CPUs, memory and what a run will do on them.",
        discussion: """
            Respects the process's CPU affinity (taskset, numactl --cpunodebind), the cgroup \
            cpuset and the memory policy (numactl --membind/--interleave).
            Modes: auto = distribute when more than one node is allowed, else off; \
            distribute = workers on every allowed node, weights split by rows into node-local \
            memory; isolate = only the node of the first allowed CPU; off = no pinning, no placement.
            """)

    @Flag(help: "Print JSON ({\"topology\": …, \"plan\": …}).") var json = false
    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int? { threadsOption.threads }
    @Option(help: "NUMA mode: \(NUMAMode.allCases.map(\.rawValue).joined(separator: ", ")).") var numa: NUMAMode = .auto
    @Option(help: "A GGUF model: show how many bytes of its weight matrices each node would hold.") var model: String?

    func validate() throws {
        if let t = threads, t < 1 || t > NUMAPlan.maxThreads {
            throw ValidationError("--threads must be in 1...\(NUMAPlan.maxThreads) (got \(t))")
        }
    }

    struct Report: Codable {
        var topology: NUMATopology
        var plan: NUMAPlan
        /// With --model: total bytes of the model's matrices, and each node's share when placed.
        var weightBytes: Int?
        var weightBytesPerNode: [String: Int]?
    }

    func run() throws {
        let topo = NUMATopology.current()
        let plan = try NUMAPlan.make(topology: topo, threads: threads, mode: numa)
        var report = Report(topology: topo, plan: plan)
        if let model {
            // Every 2-D tensor (ne = [in, out]) is a matrix whose rows would be split.
            let file = try GGUFFile(path: model)
            let shapes = file.tensors.filter { $0.dims.count == 2 && $0.dims[1] > 0 }
                .map { (rows: $0.dims[1], rowBytes: $0.byteCount / $0.dims[1]) }
            report.weightBytes = shapes.reduce(0) { $0 + $1.rows * $1.rowBytes }
            let perNode = NUMAPlacement.bytesPerNode(shapes: shapes, plan: plan, align: 1)
            report.weightBytesPerNode = Dictionary(uniqueKeysWithValues: perNode.map { ("\($0.key)", $0.value) })
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print(Self.describe(topo, plan), terminator: "")
            if let total = report.weightBytes {
                let parts = (report.weightBytesPerNode ?? [:]).sorted { Int($0.key)! < Int($1.key)! }
                    .map { "node \($0.key): \(Self.gib(Int64($0.value)))" }
                print("model matrices: \(Self.gib(Int64(total)))" + (parts.isEmpty ? ", not placed" : " → " + parts.joined(separator: ", ")))
            }
        }
    }

    static func gib(_ b: Int64) -> String {
        b >= 1 << 30 ? String(format: "%.1f GiB", Double(b) / 1_073_741_824) : String(format: "%.1f MiB", Double(b) / 1_048_576)
    }

    /// The text report: topology first, then the plan.
    static func describe(_ t: NUMATopology, _ p: NUMAPlan) -> String {
        var s = ""
        func line(_ k: String, _ v: String) { s += k.padding(toLength: 16, withPad: " ", startingAt: 0) + v + "\n" }
        line("source:", "\(t.source)\(t.canBindMemory ? "" : " (memory binding unavailable)")")
        line("nodes:", "\(t.nodes.count)")
        let allowed = Set(t.allowedCPUs)
        for n in t.nodes {
            let mine = n.cpus.filter { allowed.contains($0) }
            let cpuText = mine.count == n.cpus.count ? CPUSet.format(n.cpus)
                : "\(CPUSet.format(n.cpus)) (allowed: \(CPUSet.format(mine)))"
            line("  node \(n.id):", "cpus \(cpuText); memory \(gib(n.memoryBytes)), free \(gib(n.freeBytes))")
        }
        s += "distances:\n"
        s += "        " + t.nodes.map { String(format: "%6d", $0.id) }.joined() + "\n"
        for (i, n) in t.nodes.enumerated() {
            let row = t.nodes.indices.map { j in i < t.distances.count && j < t.distances[i].count ? t.distances[i][j] : 0 }
            s += String(format: "  %4d  ", n.id) + row.map { String(format: "%6d", $0) }.joined() + "\n"
        }
        line("allowed CPUs:", "\(CPUSet.format(t.allowedCPUs)) (\(t.allowedCPUs.count))")
        line("allowed memory:", "nodes \(CPUSet.format(t.allowedMemoryNodes))")
        line("memory policy:", t.memoryPolicy)
        if !t.cores.isEmpty { line("SMT cores:", "\(t.cores.count) with siblings, e.g. \(CPUSet.format(t.cores[0]))") }
        s += "\n"
        let modeText = p.requestedMode == p.mode ? p.mode.rawValue : "\(p.requestedMode.rawValue) → \(p.mode.rawValue)"
        line("run mode:", modeText)
        line("workers:", "\(p.threads)\(p.workerCPUs == nil ? ", not pinned (the OS schedules them)" : ", each pinned to one CPU")")
        if p.workerCPUs != nil {
            for g in p.groups {
                line("  node \(g.node.map(String.init) ?? "-"):", "workers \(g.workers.lowerBound)..<\(g.workers.upperBound) on cpus \(CPUSet.format(g.cpus))")
            }
        }
        if p.placesWeights {
            let shares = p.groups.map { "node \($0.memoryNode ?? -1): \($0.workers.count * 100 / max(p.threads, 1))%" }
            line("weights:", "each frozen matrix split by output rows, copied into node-local memory (\(shares.joined(separator: ", ")))")
        } else {
            line("weights:", "not placed: stay where they are loaded (memory map of the GGUF)")
        }
        for n in p.notes { line("note:", n) }
        return s
    }
}
