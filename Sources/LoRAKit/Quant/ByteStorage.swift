import Foundation

/// Immutable bytes that tensors view without copying: a read-only memory map of a file,
/// or an owned, 64-byte-aligned allocation (for weights quantized at load time).
/// Lives as long as any tensor that views it.
public final class ByteStorage: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    private let release: () -> Void

    /// Wraps memory with a release action run when the last view goes away.
    public init(base: UnsafeRawPointer, count: Int, release: @escaping () -> Void) {
        self.base = base
        self.count = count
        self.release = release
    }

    /// Allocates `count` bytes (64-byte aligned) and lets `fill` write them once.
    public static func allocate(count: Int, fill: (UnsafeMutableRawPointer) throws -> Void) rethrows -> ByteStorage {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1), alignment: 64)
        do { try fill(p) } catch { p.deallocate(); throw error }
        return ByteStorage(base: UnsafeRawPointer(p), count: count) { p.deallocate() }
    }

    deinit { release() }
}
