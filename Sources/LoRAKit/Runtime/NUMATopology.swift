import Foundation
#if canImport(CNuma)
import CNuma
#endif

/// The machine's NUMA layout as this process sees it: nodes with their CPUs and memory, the
/// distances between them, and the CPUs and memory nodes the process is allowed to use
/// (`taskset`, `numactl`, cgroup cpusets). A value: read it once with `current()`, or build one
/// by hand to plan for another machine (tests inject 2-, 4- and 8-node machines).
public struct NUMATopology: Codable, Sendable, Equatable {
    /// One NUMA node.
    public struct Node: Codable, Sendable, Equatable {
        /// Node id as the kernel numbers it (ids may have gaps).
        public var id: Int
        /// Online CPUs of the node, sorted (allowed or not; see `allowedCPUs`).
        public var cpus: [Int]
        /// Memory of the node in bytes (0 for a CPU-only node).
        public var memoryBytes: Int64
        /// Free memory of the node in bytes when the topology was read.
        public var freeBytes: Int64

        public init(id: Int, cpus: [Int], memoryBytes: Int64, freeBytes: Int64) {
            self.id = id
            self.cpus = cpus.sorted()
            self.memoryBytes = memoryBytes
            self.freeBytes = freeBytes
        }
    }

    /// Nodes sorted by id.
    public var nodes: [Node]
    /// `distances[i][j]`: relative access cost from `nodes[i]` to memory of `nodes[j]`
    /// (ACPI SLIT: 10 = local, typically 20–32 across sockets).
    public var distances: [[Int]]
    /// CPUs the process may run on (affinity mask ∩ cgroup cpuset), sorted.
    public var allowedCPUs: [Int]
    /// Nodes the process may allocate memory on (`Mems_allowed`, narrowed by a `bind` policy).
    public var allowedMemoryNodes: [Int]
    /// The task's memory policy, e.g. `"default"`, `"bind:0-1"`, `"interleave:0,1"`.
    public var memoryPolicy: String
    /// Logical CPUs that share one physical core (SMT siblings), each group sorted. A CPU that
    /// appears in no group is a core of its own.
    public var cores: [[Int]]
    /// Whether memory can be bound to nodes (`numa_available() >= 0`; false e.g. in containers
    /// whose seccomp profile blocks `mbind`). Placement is planned only when true.
    public var canBindMemory: Bool
    /// Where the facts came from: `"libnuma"`, `"sysfs"`, `"single-node fallback"` or `"injected"`.
    public var source: String

    /// A topology given by hand (tests, planning for another machine). `distances` defaults to
    /// 10 on the diagonal and 20 elsewhere; `allowedMemoryNodes` to the nodes with memory.
    public init(nodes: [Node], distances: [[Int]]? = nil, allowedCPUs: [Int]? = nil,
                allowedMemoryNodes: [Int]? = nil, memoryPolicy: String = "default",
                cores: [[Int]] = [], canBindMemory: Bool = true, source: String = "injected") {
        let sorted = nodes.sorted { $0.id < $1.id }
        self.nodes = sorted
        self.distances = distances ?? sorted.indices.map { i in sorted.indices.map { $0 == i ? 10 : 20 } }
        self.allowedCPUs = Array(Set(allowedCPUs ?? sorted.flatMap(\.cpus))).sorted()
        self.allowedMemoryNodes = (allowedMemoryNodes ?? sorted.filter { $0.memoryBytes > 0 }.map(\.id)).sorted()
        self.memoryPolicy = memoryPolicy
        self.cores = cores
        self.canBindMemory = canBindMemory
        self.source = source
    }

    /// The node holding `cpu`, nil when no node lists it.
    public func node(ofCPU cpu: Int) -> Int? {
        nodes.first { $0.cpus.contains(cpu) }?.id
    }

    /// The allowed CPUs of node `id`, sorted.
    public func allowedCPUs(onNode id: Int) -> [Int] {
        guard let n = nodes.first(where: { $0.id == id }) else { return [] }
        let allowed = Set(allowedCPUs)
        return n.cpus.filter { allowed.contains($0) }
    }

    /// Distance between nodes `a` and `b` by id (10 local, 20 remote when unknown).
    public func distance(_ a: Int, _ b: Int) -> Int {
        if let i = nodes.firstIndex(where: { $0.id == a }), let j = nodes.firstIndex(where: { $0.id == b }),
           i < distances.count, j < distances[i].count, distances[i][j] > 0 {
            return distances[i][j]
        }
        return a == b ? 10 : 20
    }

    /// A key identifying the physical core of `cpu` (the smallest CPU of its SMT group).
    func coreKey(of cpu: Int) -> Int {
        cores.first { $0.contains(cpu) }?.min() ?? cpu
    }

    /// Reads the running machine. Uses libnuma when `numa_available() >= 0`, else the sysfs node
    /// folders, else one node holding the allowed CPUs and the memory of /proc/meminfo.
    public static func current() -> NUMATopology {
        let online = CPUSet.parseList((try? String(contentsOfFile: "/sys/devices/system/cpu/online", encoding: .utf8)) ?? "")
        var allowed = CPUSet.processAffinity()
            ?? (online?.isEmpty == false ? online! : Array(0..<ProcessInfo.processInfo.activeProcessorCount))
        if let cg = CPUSet.cgroupCPUs().map(Set.init) {
            let narrowed = allowed.filter { cg.contains($0) }
            if !narrowed.isEmpty { allowed = narrowed }
        }
        let policy = CPUSet.memoryPolicy()
        let policyText = policy.nodes.isEmpty ? policy.mode : "\(policy.mode):\(CPUSet.format(policy.nodes))"

        var nodes: [Node] = []
        var distances: [[Int]]? = nil
        var source = "single-node fallback"
        var canBind = false
        #if canImport(CNuma)
        if numa_available() >= 0 {
            canBind = true
            source = "libnuma"
            (nodes, distances) = readLibnuma()
        }
        #endif
        if nodes.isEmpty, let (n, d) = readSysfs(), !n.isEmpty {
            nodes = n; distances = d; source = "sysfs"
        }
        if nodes.isEmpty {
            let mem = readMeminfo()
            nodes = [Node(id: 0, cpus: online ?? allowed, memoryBytes: mem.total, freeBytes: mem.available)]
            distances = [[10]]
        }
        var mems = CPUSet.allowedMemoryNodes() ?? nodes.map(\.id)
        if policy.mode == "bind" && !policy.nodes.isEmpty { mems = mems.filter { policy.nodes.contains($0) } }
        if let cg = CPUSet.cgroupMemoryNodes() {
            let narrowed = mems.filter { cg.contains($0) }
            if !narrowed.isEmpty { mems = narrowed }
        }
        var cores: [[Int]] = []
        var seen = Set<Int>()
        for cpu in nodes.flatMap(\.cpus).sorted() where !seen.contains(cpu) {
            let sib = CPUSet.coreSiblings(of: cpu)
            seen.formUnion(sib)
            if sib.count > 1 { cores.append(sib) }
        }
        return NUMATopology(nodes: nodes, distances: distances, allowedCPUs: allowed,
                            allowedMemoryNodes: mems, memoryPolicy: policyText, cores: cores,
                            canBindMemory: canBind, source: source)
    }

    #if canImport(CNuma)
    /// Nodes, CPUs, memory and distances from libnuma (call only when numa_available() >= 0).
    private static func readLibnuma() -> ([Node], [[Int]]) {
        let maxNode = Int(numa_max_node())
        guard maxNode >= 0, let mask = numa_allocate_cpumask() else { return ([], []) }
        defer { numa_free_cpumask(mask) }
        let possibleCPUs = Int(numa_num_possible_cpus())
        var nodes: [Node] = []
        for id in 0...maxNode {
            if let present = numa_nodes_ptr, numa_bitmask_isbitset(present, UInt32(id)) == 0 { continue }
            var free: Int64 = 0
            let size = numa_node_size64(Int32(id), &free)
            numa_bitmask_clearall(mask)
            guard numa_node_to_cpus(Int32(id), mask) == 0 else { continue }
            let cpus = (0..<possibleCPUs).filter { numa_bitmask_isbitset(mask, UInt32($0)) != 0 }
            if size <= 0 && cpus.isEmpty { continue }
            nodes.append(Node(id: id, cpus: cpus, memoryBytes: max(size, 0), freeBytes: max(free, 0)))
        }
        let d = nodes.map { a in nodes.map { b in Int(numa_distance(Int32(a.id), Int32(b.id))) } }
        return (nodes, d)
    }
    #endif

    /// Nodes from /sys/devices/system/node (works where the NUMA syscalls are blocked).
    private static func readSysfs() -> ([Node], [[Int]])? {
        let root = "/sys/devices/system/node"
        guard let listed = try? String(contentsOfFile: "\(root)/online", encoding: .utf8),
              let ids = CPUSet.parseList(listed), !ids.isEmpty else { return nil }
        var nodes: [Node] = []
        var rows: [[Int]] = []
        for id in ids {
            let dir = "\(root)/node\(id)"
            let cpus = CPUSet.parseList((try? String(contentsOfFile: "\(dir)/cpulist", encoding: .utf8)) ?? "") ?? []
            var total: Int64 = 0, free: Int64 = 0
            if let info = try? String(contentsOfFile: "\(dir)/meminfo", encoding: .utf8) {
                for line in info.split(separator: "\n") {
                    let f = line.split(separator: " ", omittingEmptySubsequences: true)
                    guard f.count >= 4, let kb = Int64(f[3]) else { continue }
                    if f[2] == "MemTotal:" { total = kb * 1024 }
                    if f[2] == "MemFree:" { free = kb * 1024 }
                }
            }
            nodes.append(Node(id: id, cpus: cpus, memoryBytes: total, freeBytes: free))
            let dist = (try? String(contentsOfFile: "\(dir)/distance", encoding: .utf8)) ?? ""
            rows.append(dist.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) })
        }
        // sysfs rows list every online node in order; keep them only when the shape matches.
        let ok = rows.count == nodes.count && rows.allSatisfy { $0.count == nodes.count }
        let defaults = nodes.indices.map { i in nodes.indices.map { $0 == i ? 10 : 20 } }
        return (nodes, ok ? rows : defaults)
    }

    /// MemTotal and MemAvailable of /proc/meminfo in bytes (0 when unreadable).
    private static func readMeminfo() -> (total: Int64, available: Int64) {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return (0, 0) }
        var total: Int64 = 0, avail: Int64 = 0
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 2, let kb = Int64(f[1]) else { continue }
            if f[0] == "MemTotal:" { total = kb * 1024 }
            if f[0] == "MemAvailable:" { avail = kb * 1024 }
        }
        return (total, avail)
    }
}
