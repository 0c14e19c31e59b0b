import Foundation

/// Resident memory of this process, read from /proc (Linux) or getrusage elsewhere.
public enum ProcessMemory {
    /// Current resident set size in bytes.
    public static func residentBytes() -> Int {
        #if os(Linux)
        if let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let parts = s.split(separator: " ")
            if parts.count > 1, let pages = Int(parts[1]) { return pages * Int(sysconf(Int32(_SC_PAGESIZE))) }
        }
        #endif
        return peakResidentBytes()
    }

    /// Peak resident set size in bytes since the process started (VmHWM / ru_maxrss).
    public static func peakResidentBytes() -> Int {
        #if os(Linux)
        if let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) {
            for line in s.split(separator: "\n") where line.hasPrefix("VmHWM:") {
                let kb = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
                return kb * 1024
            }
        }
        #endif
        var u = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &u)
        #else
        getrusage(RUSAGE_SELF, &u)
        #endif
        #if os(Linux)
        return Int(u.ru_maxrss) * 1024
        #else
        return Int(u.ru_maxrss)
        #endif
    }

    /// Resets the peak counter (Linux: writes 5 to /proc/self/clear_refs); false when not possible.
    @discardableResult
    public static func resetPeak() -> Bool {
        #if os(Linux)
        guard let fh = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? fh.close() }
        do { try fh.write(contentsOf: Data("5".utf8)); return true } catch { return false }
        #else
        return false
        #endif
    }

    /// "1.23 GB"-style text.
    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1e9 { return String(format: "%.2f GB", b / 1e9) }
        if b >= 1e6 { return String(format: "%.1f MB", b / 1e6) }
        if b >= 1e3 { return String(format: "%.1f kB", b / 1e3) }
        return "\(bytes) B"
    }
}
