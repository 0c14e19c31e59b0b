import CKernels
import Foundation

/// A persistent pool of worker threads shared by the C kernels (a wrapper of `lk_pool`).
/// The thread that runs work on the pool takes part as thread 0, so a pool of `threads` threads
/// starts `threads - 1` workers. Pools hold no global state: several can coexist in one process.
/// Runs on one pool are serialized; use one pool per concurrent training session.
public final class ThreadPool: @unchecked Sendable {
    /// Number of threads that run each task, the caller included.
    public let threads: Int
    /// The C pool handed to kernels (`lk_pool *`). Valid for the lifetime of this object; nil only when
    /// even a one-thread pool could not be allocated, and then every kernel runs inline on the caller.
    let raw: OpaquePointer?

    /// Number of CPUs this process may run on.
    public static var defaultThreadCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Creates a pool of `threads` threads (clamped to 1...4096). `cpus`, when given with at least
    /// `threads` entries, pins thread i to CPU `cpus[i]` (thread 0, the caller of a run, is pinned
    /// to `cpus[0]` during each run and gets its own affinity back afterwards); otherwise threads are not pinned. When the operating system refuses to
    /// start threads, the pool falls back to running everything on the caller (`threads == 1`).
    ///
    /// `groupSizes` splits the threads into contiguous row groups (NUMA nodes) for the frozen-weight
    /// products (`lk_qmatmul_*_grouped`); it is used only when its entries are positive and sum to the
    /// pool's thread count, otherwise the pool is one group.
    public init(threads: Int = ThreadPool.defaultThreadCount, cpus: [Int32]? = nil, groupSizes: [Int]? = nil) {
        let n = Int32(min(max(threads, 1), 4096))
        let pinned = cpus.flatMap { $0.count >= Int(n) ? $0 : nil }
        var p: OpaquePointer? = pinned.map { c in c.withUnsafeBufferPointer { lk_pool_create(n, $0.baseAddress) } }
            ?? lk_pool_create(n, nil)
        if p == nil { p = lk_pool_create(1, nil) } // creates no thread: fails only when out of memory
        raw = p                                    // nil: the kernels accept a NULL pool and run inline
        self.threads = p.map { Int(lk_pool_size($0)) } ?? 1
        let sizes = groupSizes ?? []
        let valid = !sizes.isEmpty && sizes.allSatisfy { $0 > 0 } && sizes.reduce(0, +) == self.threads
        var bounds: [Int32] = [0]
        for s in valid ? sizes : [self.threads] { bounds.append(bounds.last! + Int32(s)) }
        groupBounds = bounds
    }

    /// Thread boundaries of the row groups: `[0, …, threads]`, group g being threads
    /// `groupBounds[g]..<groupBounds[g+1]` (one group unless `groupSizes` was given).
    public let groupBounds: [Int32]

    /// Number of row groups.
    public var groupCount: Int { groupBounds.count - 1 }

    deinit { if let raw { lk_pool_destroy(raw) } }

    /// Runs `body(index, count)` once for every thread index in `0..<threads`, in parallel, and returns
    /// when all are done. `body` must not call `parallel` on the same pool (such a nested call runs inline).
    public func parallel(_ body: (_ index: Int, _ count: Int) -> Void) {
        withoutActuallyEscaping(body) { escapable in
            var box = escapable
            withUnsafeMutablePointer(to: &box) { ptr in
                lk_pool_run(raw, { ctx, i, n in
                    let f = ctx!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee
                    f(Int(i), Int(n))
                }, UnsafeMutableRawPointer(ptr))
            }
        }
    }
}
