import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on a run's output folder, held for the whole run: a second run into the same
/// folder is refused while the first one lives. The lock is `flock` on `.lorakit.lock` (released by
/// the kernel when the process dies, so a crashed run's lock is taken over, and said so).
public final class RunLock {
    public let path: String
    /// Set when the lock file named a process that no longer holds it (it died without cleaning up).
    public private(set) var tookOverNote: String?
    private var fd: Int32

    /// Takes the lock of `folder` (which must exist) or throws `RunLockError.busy` naming the holder.
    public init(folder: String) throws {
        path = folder + "/.lorakit.lock"
        while true {
            let f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
            guard f >= 0 else { throw RunDirectoryError.notWritable(folder, AtomicFileWriter.describePOSIX(errno)) }
            if flock(f, LOCK_EX | LOCK_NB) != 0 {
                let e = errno
                let holder = RunLock.readHolder(f)
                close(f)
                if e == EWOULDBLOCK { throw RunLockError.busy(folder, holder) }
                throw RunDirectoryError.notWritable(folder, "cannot lock \(path): \(AtomicFileWriter.describePOSIX(e))")
            }
            // The file may have been unlinked by its last holder between our open and flock: retry on the new one.
            var a = stat(), b = stat()
            if fstat(f, &a) == 0, stat(path, &b) == 0, a.st_ino == b.st_ino, a.st_dev == b.st_dev {
                fd = f
                break
            }
            close(f)
        }
        AbruptExit.register(path)
        if let old = RunLock.readHolder(fd), old.pid != getpid() {
            tookOverNote = "took over the lock of \(path): process \(old.pid) (started \(old.started)) no longer runs"
        }
        let text = "pid \(getpid())\nstarted \(ISO8601DateFormatter().string(from: Date()))\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    /// Releases the lock and removes the lock file (idempotent).
    public func release() {
        guard fd >= 0 else { return }
        AbruptExit.unregister(path)
        unlink(path)
        close(fd)
        fd = -1
    }

    deinit { release() }

    static func readHolder(_ fd: Int32) -> (pid: Int32, started: String)? {
        var buf = [UInt8](repeating: 0, count: 256)
        let n = pread(fd, &buf, buf.count, 0)
        guard n > 0 else { return nil }
        let lines = String(decoding: buf[0..<n], as: UTF8.self).split(separator: "\n")
        guard let first = lines.first, first.hasPrefix("pid "), let pid = Int32(first.dropFirst(4)) else { return nil }
        let started = lines.dropFirst().first.map { String($0.dropFirst("started ".count)) } ?? "?"
        return (pid, started)
    }
}

public enum RunLockError: Error, CustomStringConvertible, Equatable {
    case busy(String, (pid: Int32, started: String)?)

    public static func == (a: RunLockError, b: RunLockError) -> Bool {
        guard case .busy(let x, let hx) = a, case .busy(let y, let hy) = b else { return false }
        return x == y && hx?.pid == hy?.pid
    }

    public var description: String {
        guard case .busy(let folder, let holder) = self else { return "" }
        let who = holder.map { "process \($0.pid), started \($0.started)" } ?? "another process"
        return "output folder \(folder) is in use by another training run (\(who)); wait for it to finish or use another output folder"
    }
}

/// A run's output folder while the run owns it: created when missing, locked, and removed again
/// when the run fails before writing anything into a folder it created.
final class RunOutput {
    let path: String
    let lock: RunLock
    let created: Bool
    /// Set once the run has written output (metrics, checkpoints): the folder then stays on failure.
    var wroteOutput = false
    /// The run's records (metrics.jsonl, run_config.json, loss.svg, adapter/).
    let directory: RunDirectory

    var checkpointFolder: String { path + "/checkpoints" }

    private init(path: String, lock: RunLock, created: Bool, directory: RunDirectory) {
        self.path = path; self.lock = lock; self.created = created; self.directory = directory
    }

    static func open(_ path: String) throws -> RunOutput {
        let existed = FileManager.default.fileExists(atPath: path)
        let d = try RunDirectory(path: path)
        do {
            return RunOutput(path: path, lock: try RunLock(folder: path), created: !existed, directory: d)
        } catch {
            if !existed { rmdir(path) }
            throw error
        }
    }

    func finish() { directory.close(); lock.release() }

    /// After a failure: release the lock; remove the folder if this run created it and wrote nothing.
    func abandon() {
        directory.close()
        lock.release()
        guard created, !wroteOutput else { return }
        let left = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        if left.isEmpty { rmdir(path) }
    }
}
