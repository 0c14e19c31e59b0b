import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files atomically: a temporary file in the destination folder, fsync, rename, fsync the
/// folder. Bytes are streamed through a 1 MiB buffer, so nothing the size of the file is held.
enum AtomicFileWriter {
    /// Streams bytes through `body` into `path`; the destination only appears when complete. On any
    /// error the temporary file is removed and `path` is untouched. `failure` turns what failed and
    /// why ("write failed", "no space left on the device (disk full)") into the caller's error type.
    static func write(path: String, failure: ((_ step: String, _ reason: String) -> Error)? = nil,
                      _ body: (_ emit: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        let fail = failure ?? { FormatError.io(path: path, message: "\($0): \($1)") }
        let dir = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let tmp = (dir.isEmpty ? "." : dir) + "/.\(name).tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw fail("cannot create \(tmp)", describePOSIX(errno)) }
        AbruptExit.register(tmp)
        var ok = false
        defer {
            if !ok { close(fd); unlink(tmp) }
            AbruptExit.unregister(tmp)
        }
        let cap = 1 << 20
        let buf = UnsafeMutableRawPointer.allocate(byteCount: cap, alignment: 64)
        defer { buf.deallocate() }
        var used = 0
        func flush() throws {
            var done = 0
            while done < used {
                let n = Glibc_write(fd, buf + done, used - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw fail("write failed", describePOSIX(errno))
                }
                done += n
            }
            used = 0
        }
        try body { bytes in
            var src = 0
            while src < bytes.count {
                let n = min(cap - used, bytes.count - src)
                if n > 0, let b = bytes.baseAddress { (buf + used).copyMemory(from: b + src, byteCount: n) }
                used += n; src += n
                if used == cap { try flush() }
            }
        }
        try flush()
        guard fsync(fd) == 0 else { throw fail("fsync failed", describePOSIX(errno)) }
        ok = true
        guard close(fd) == 0 else {
            let e = describePOSIX(errno); unlink(tmp)
            throw fail("close failed", e)
        }
        let renamed = AbruptExit.withLock { () -> Int32? in
            if rename(tmp, path) == 0 { return nil }
            let e = errno
            unlink(tmp)
            return e
        }
        if let e = renamed { throw fail("rename failed", describePOSIX(e)) }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }

    /// Words for a POSIX error of a write (disk full and quota named plainly).
    static func describePOSIX(_ code: Int32) -> String {
        if code == ENOSPC { return "no space left on the device (disk full)" }
        if code == EFBIG { return "file too large (a file-size limit was reached)" }
        if code == EDQUOT { return "disk quota exceeded" }
        return String(cString: strerror(code))
    }
}

@inline(__always)
private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, p, n)
    #else
    return Darwin.write(fd, p, n)
    #endif
}
