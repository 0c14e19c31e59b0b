import Foundation
#if canImport(Glibc)
import Glibc
#endif
#if canImport(CNuma)
import CNuma
#endif

/// Reads the CPUs and memory nodes this process may use: its affinity mask (what `taskset` and
/// `numactl --cpunodebind` set), the cgroup cpuset (containers, systemd slices) and the task's
/// memory policy (what `numactl --membind/--interleave/--preferred` set).
/// All functions read state; none of them changes it.
public enum CPUSet {
    /// CPUs the process may run on, sorted; nil when unknown. Affinity belongs to threads, and
    /// a pool pins its threads (the thread calling it included), so this is the union of the
    /// masks of all the process's threads (`/proc/self/task`): pinned threads only narrow the
    /// mask they inherited, and any unpinned thread still holds the whole set.
    public static func processAffinity() -> [Int]? {
        #if os(Linux)
        var union = Set<Int>()
        let tids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task"))?.compactMap { Int32($0) } ?? []
        for tid in tids {
            if let cpus = affinity(of: tid) { union.formUnion(cpus) }
        }
        if union.isEmpty, let own = affinity(of: getpid()) { union.formUnion(own) }
        return union.isEmpty ? nil : union.sorted()
        #else
        return nil
        #endif
    }

    /// CPUs the calling thread may run on, sorted; nil when unknown. Inside a pinned worker this
    /// is the single CPU it was pinned to.
    public static func threadAffinity() -> [Int]? {
        #if os(Linux)
        return affinity(of: 0)
        #else
        return nil
        #endif
    }

    #if os(Linux)
    /// `sched_getaffinity` (through libnuma, which sizes the mask for every possible CPU).
    private static func affinity(of pid: pid_t) -> [Int]? {
        #if canImport(CNuma)
        guard let mask = numa_allocate_cpumask() else { return nil }
        defer { numa_free_cpumask(mask) }
        guard numa_sched_getaffinity(pid, mask) >= 0 else { return nil }
        let bits = Int(mask.pointee.size)
        return (0..<bits).filter { numa_bitmask_isbitset(mask, UInt32($0)) != 0 }
        #else
        return nil
        #endif
    }
    #endif

    /// Indices of the set bits of a little-endian word mask.
    static func bits<W: FixedWidthInteger>(_ words: [W]) -> [Int] {
        var out: [Int] = []
        for (w, word) in words.enumerated() where word != 0 {
            for b in 0..<W.bitWidth where word & (W(1) << b) != 0 { out.append(w * W.bitWidth + b) }
        }
        return out
    }

    /// The cgroup cpuset's effective CPUs (cgroup v2 `cpuset.cpus.effective`, v1
    /// `cpuset.effective_cpus`), nil when there is no readable cpuset.
    public static func cgroupCPUs() -> [Int]? {
        cgroupList(v2: "cpuset.cpus.effective", v1: "cpuset.effective_cpus")
    }

    /// The cgroup cpuset's effective memory nodes, nil when there is no readable cpuset.
    public static func cgroupMemoryNodes() -> [Int]? {
        cgroupList(v2: "cpuset.mems.effective", v1: "cpuset.effective_mems")
    }

    /// Finds this process's cpuset cgroup in /proc/self/cgroup and reads one of its list files.
    /// Inside a container the recorded path is often not visible; the mount root is tried next.
    private static func cgroupList(v2: String, v1: String) -> [Int]? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        var candidates: [String] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2])
            if parts[0] == "0" && parts[1].isEmpty {
                candidates += ["/sys/fs/cgroup\(path)/\(v2)", "/sys/fs/cgroup/\(v2)"]
            } else if parts[1].split(separator: ",").contains("cpuset") {
                candidates += ["/sys/fs/cgroup/cpuset\(path)/\(v1)", "/sys/fs/cgroup/cpuset/\(v1)"]
            }
        }
        for file in candidates {
            if let s = try? String(contentsOfFile: file, encoding: .utf8),
               let list = parseList(s), !list.isEmpty {
                return list
            }
        }
        return nil
    }

    /// Parses a kernel CPU/node list such as `"0-3,8,10-11"`; nil when malformed.
    public static func parseList(_ text: String) -> [Int]? {
        let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if t.isEmpty { return [] }
        var out: [Int] = []
        for item in t.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = item.split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count == 1 || ends.count == 2,
                  let lo = Int(ends[0]), let hi = Int(ends[ends.count - 1]), lo >= 0, lo <= hi,
                  hi - lo < 1 << 20 else { return nil }
            out += Array(lo...hi)
        }
        return Array(Set(out)).sorted()
    }

    /// Formats a list compactly, e.g. `[0, 1, 2, 3, 8]` → `"0-3,8"` (empty → `"none"`).
    public static func format(_ list: [Int]) -> String {
        let s = Array(Set(list)).sorted()
        guard !s.isEmpty else { return "none" }
        var parts: [String] = []
        var i = 0
        while i < s.count {
            var j = i
            while j + 1 < s.count && s[j + 1] == s[j] + 1 { j += 1 }
            parts.append(j == i ? "\(s[i])" : "\(s[i])-\(s[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }

    /// The logical CPUs sharing a physical core with `cpu` (SMT siblings, itself included),
    /// from sysfs; `[cpu]` when unknown.
    public static func coreSiblings(of cpu: Int) -> [Int] {
        let file = "/sys/devices/system/cpu/cpu\(cpu)/topology/thread_siblings_list"
        guard let s = try? String(contentsOfFile: file, encoding: .utf8),
              let list = parseList(s), list.contains(cpu) else { return [cpu] }
        return list
    }

    /// The task's memory policy (`get_mempolicy`), or with `address` the policy of the mapping
    /// holding that address (what `mbind` set): a mode name and its nodes, e.g.
    /// `("bind", [0, 1])`, `("default", [])`. Mode is `"unknown"` when the call fails.
    public static func memoryPolicy(at address: UnsafeRawPointer? = nil) -> (mode: String, nodes: [Int]) {
        #if canImport(CNuma)
        var mode: Int32 = 0
        var mask = [UInt](repeating: 0, count: 64)  // 4096 nodes
        let rc = mask.withUnsafeMutableBufferPointer {
            get_mempolicy(&mode, $0.baseAddress, UInt($0.count * UInt.bitWidth),
                          address.map { UnsafeMutableRawPointer(mutating: $0) }, address == nil ? 0 : UInt32(MPOL_F_ADDR))
        }
        guard rc == 0 else { return ("unknown", []) }
        // mode flags of the kernel ABI: MPOL_F_STATIC_NODES, _RELATIVE_NODES, _NUMA_BALANCING
        let flags: Int32 = (1 << 15) | (1 << 14) | (1 << 13)
        let name: String
        switch mode & ~flags {
        case Int32(MPOL_DEFAULT): name = "default"
        case Int32(MPOL_PREFERRED): name = "preferred"
        case Int32(MPOL_BIND): name = "bind"
        case Int32(MPOL_INTERLEAVE): name = "interleave"
        case Int32(MPOL_LOCAL): name = "local"
        case 5: name = "preferred-many"
        case 6: name = "weighted-interleave"
        default: name = "mode \(mode)"
        }
        return (name, name == "default" || name == "local" ? [] : bits(mask))
        #else
        return ("unknown", [])
        #endif
    }

    /// Memory nodes the process may allocate on (`Mems_allowed`), nil when unknown.
    public static func allowedMemoryNodes() -> [Int]? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Mems_allowed_list:") {
            return parseList(String(line.dropFirst("Mems_allowed_list:".count)))
        }
        return nil
    }
}
