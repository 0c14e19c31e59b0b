import Foundation

/// The memory this process may still use: the cgroup limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`) minus what the cgroup holds that cannot be reclaimed, and the
/// system's `MemAvailable`; the smaller one counts. Build one with `MemoryLimit.current()` or
/// inject figures (tests, `--max-memory`).
public struct MemoryLimit: Codable, Sendable, Equatable {
    /// `/proc/meminfo` MemAvailable.
    public var memAvailable: Int?
    /// `/proc/meminfo` MemTotal.
    public var memTotal: Int?
    /// The cgroup's hard limit (nil: none or unreadable).
    public var cgroupLimit: Int?
    /// The cgroup's current usage (includes page cache).
    public var cgroupUsage: Int?
    /// Of that usage, file pages the kernel can drop (`inactive_file`).
    public var cgroupReclaimable: Int?
    /// A user cap (`--max-memory`): the run must stay below it whatever is free.
    public var userCap: Int?

    public init(memAvailable: Int? = nil, memTotal: Int? = nil, cgroupLimit: Int? = nil, cgroupUsage: Int? = nil,
                cgroupReclaimable: Int? = nil, userCap: Int? = nil) {
        self.memAvailable = memAvailable
        self.memTotal = memTotal
        self.cgroupLimit = cgroupLimit
        self.cgroupUsage = cgroupUsage
        self.cgroupReclaimable = cgroupReclaimable
        self.userCap = userCap
    }

    /// Bytes a new allocation can take before the system or the cgroup runs out (nil: unknown).
    /// `ownResident` is what this process already holds (counted as usable by the run, since the
    /// budget includes it).
    public func available(ownResident: Int = 0) -> Int? {
        var a: Int? = memAvailable.map { $0 + ownResident }
        if let lim = cgroupLimit {
            let used = max(0, (cgroupUsage ?? 0) - (cgroupReclaimable ?? 0))
            let c = max(0, lim - used) + ownResident
            a = a.map { min($0, c) } ?? c
        }
        if let cap = userCap { a = a.map { min($0, cap) } ?? cap }
        return a
    }

    /// Which figure limits the run, for messages.
    public var limitingSource: String {
        if let cap = userCap, cap <= (available() ?? .max) { return "memory cap" }
        if let lim = cgroupLimit {
            let used = max(0, (cgroupUsage ?? 0) - (cgroupReclaimable ?? 0))
            if memAvailable == nil || lim - used <= memAvailable! { return "cgroup limit \(ProcessMemory.format(lim))" }
        }
        return "MemAvailable"
    }

    /// Reads /proc/meminfo and this process's memory cgroup. `root` prefixes every path (tests).
    public static func current(root: String = "") -> MemoryLimit {
        var m = MemoryLimit()
        if let info = read(root + "/proc/meminfo") {
            for line in info.split(separator: "\n") {
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count >= 2, let kb = Int(parts[1]) else { continue }
                if parts[0] == "MemAvailable:" { m.memAvailable = kb * 1024 }
                if parts[0] == "MemTotal:" { m.memTotal = kb * 1024 }
            }
        }
        for dir in cgroupDirectories(root: root) {
            if !dir.v2.isEmpty, let v2 = read(dir.v2 + "/memory.max") {
                let t = v2.trimmingCharacters(in: .whitespacesAndNewlines)
                if t != "max", let lim = Int(t) { m.cgroupLimit = lim }
                m.cgroupUsage = read(dir.v2 + "/memory.current").flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                m.cgroupReclaimable = statValue(read(dir.v2 + "/memory.stat"), "inactive_file")
                if m.cgroupLimit != nil { break }
            }
            if !dir.v1.isEmpty, let v1 = read(dir.v1 + "/memory.limit_in_bytes"), let lim = Int(v1.trimmingCharacters(in: .whitespacesAndNewlines)) {
                // v1 reports "no limit" as a huge page-rounded number.
                if lim < (1 << 60) { m.cgroupLimit = lim }
                m.cgroupUsage = read(dir.v1 + "/memory.usage_in_bytes").flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
                m.cgroupReclaimable = statValue(read(dir.v1 + "/memory.stat"), "total_inactive_file")
                    ?? statValue(read(dir.v1 + "/memory.stat"), "inactive_file")
                if m.cgroupLimit != nil { break }
            }
        }
        if m.cgroupLimit == nil { m.cgroupUsage = nil; m.cgroupReclaimable = nil }
        return m
    }

    /// Candidate cgroup folders: the one /proc/self/cgroup names, then the mount root (containers).
    static func cgroupDirectories(root: String) -> [(v2: String, v1: String)] {
        var out: [(String, String)] = []
        if let s = read(root + "/proc/self/cgroup") {
            for line in s.split(separator: "\n") {
                let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard f.count == 3 else { continue }
                let path = String(f[2])
                if f[0] == "0" && f[1].isEmpty { out.append((root + "/sys/fs/cgroup" + path, "")) }
                if f[1].split(separator: ",").contains("memory") { out.append(("", root + "/sys/fs/cgroup/memory" + path)) }
            }
        }
        out.append((root + "/sys/fs/cgroup", root + "/sys/fs/cgroup/memory"))
        return out
    }

    static func statValue(_ text: String?, _ key: String) -> Int? {
        guard let text else { return nil }
        for line in text.split(separator: "\n") {
            let p = line.split(separator: " ")
            if p.count == 2, p[0] == key { return Int(p[1]) }
        }
        return nil
    }

    static func read(_ path: String) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try? String(contentsOfFile: path, encoding: .utf8)
    }

    /// Parses sizes like `6GB`, `6G`, `512MiB`, `1.5TB`, `123456` (bytes). GB/MB are decimal, GiB/MiB binary;
    /// a bare `G`/`M`/`K` is binary (as `ulimit` and Docker read them).
    public static func parseSize(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let ki = 1024.0, mi = ki * ki, gi = mi * ki, ti = gi * ki
        let units: [(String, Double)] = [("TIB", ti), ("GIB", gi), ("MIB", mi), ("KIB", ki),
                                         ("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3),
                                         ("T", ti), ("G", gi), ("M", mi), ("K", ki), ("B", 1)]
        for (u, mult) in units where t.hasSuffix(u) {
            guard let v = Double(t.dropLast(u.count).trimmingCharacters(in: .whitespaces)), v.isFinite, v > 0 else { return nil }
            return Int(v * mult)
        }
        guard let v = Int(t), v > 0 else { return nil }
        return v
    }
}
