import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Files that must not outlive an abrupt end of the process (a second Ctrl-C): temporary files being
/// written atomically and run-folder locks. Registration is process-wide because the process is
/// what ends; each writer registers and removes only its own paths, so sessions do not interfere.
public enum AbruptExit {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var paths: Set<String> = []

    static func register(_ path: String) { lock.lock(); paths.insert(path); lock.unlock() }
    static func unregister(_ path: String) { lock.lock(); paths.remove(path); lock.unlock() }

    /// Runs `body` while no abrupt exit can happen (a rename that turns a temporary file into the real one).
    static func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Removes every registered file, then ends the process at once with `code`. The registry stays
    /// locked until the end, so a writer cannot rename a temporary file in between.
    public static func exit(_ code: Int32) -> Never {
        lock.lock()
        for p in paths { unlink(p) }
        _exit(code)
    }
}
