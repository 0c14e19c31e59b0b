import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only memory maps of whole files, owned by a `ByteStorage` that unmaps on release.
public enum MappedFile {
    /// Maps `path` read-only. An empty file gives an empty storage (nothing is mapped).
    public static func map(path: String) throws -> ByteStorage {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw FormatError.io(path: path, message: "cannot open: \(errnoText())") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw FormatError.io(path: path, message: "cannot stat: \(errnoText())") }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError.io(path: path, message: "not a regular file")
        }
        let size = Int(st.st_size)
        if size == 0 {
            let p = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64)
            return ByteStorage(base: UnsafeRawPointer(p), count: 0) { p.deallocate() }
        }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw FormatError.io(path: path, message: "cannot mmap \(size) bytes: \(errnoText())")
        }
        return ByteStorage(base: UnsafeRawPointer(p), count: size) { munmap(p, size) }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}

