import CKernels
import XCTest

/// Counts, per thread index, how often a task ran (atomically, so a double run shows up).
private final class Counter {
    var counts: [Int]
    var sizes: [Int32]
    let lock = NSLock()
    init(_ n: Int) { counts = Array(repeating: 0, count: n); sizes = Array(repeating: 0, count: n) }
}

private func countTask(_ ctx: UnsafeMutableRawPointer?, _ i: Int32, _ n: Int32) {
    let c = Unmanaged<Counter>.fromOpaque(ctx!).takeUnretainedValue()
    c.lock.lock()
    c.counts[Int(i)] += 1
    c.sizes[Int(i)] = n
    c.lock.unlock()
}

/// Runs `body` on a new thread and returns its result (keeps pinning off the test runner's thread).
func onFreshThread<T>(_ body: @escaping () -> T) -> T {
    let box = FreshThreadBox(body)
    Thread { box.result = box.body(); box.done.signal() }.start()
    box.done.wait()
    return box.result!
}

private final class FreshThreadBox<T>: @unchecked Sendable {
    let body: () -> T
    var result: T?
    let done = DispatchSemaphore(value: 0)
    init(_ body: @escaping () -> T) { self.body = body }
}

/// The persistent pool: every index exactly once per run, repeated runs, one thread, NULL, nesting, pinning.
final class PoolTests: XCTestCase {
    private func run(_ p: OpaquePointer?, _ threads: Int, runs: Int) -> Counter {
        let c = Counter(threads)
        let ctx = Unmanaged.passUnretained(c).toOpaque()
        for _ in 0..<runs { lk_pool_run(p, countTask, ctx) }
        return c
    }

    func testEveryIndexExactlyOncePerRun() throws {
        for n in [1, 2, 3, 5] {
            let p = try XCTUnwrap(lk_pool_create(Int32(n), nil))
            XCTAssertEqual(lk_pool_size(p), Int32(n))
            for runs in [1, 2, 1000] {
                let c = run(p, n, runs: runs)
                XCTAssertEqual(c.counts, Array(repeating: runs, count: n), "\(n) threads, \(runs) runs")
                XCTAssertEqual(c.sizes, Array(repeating: Int32(n), count: n))
            }
            lk_pool_destroy(p)
        }
    }

    func testNullPoolRunsInline() {
        XCTAssertEqual(lk_pool_size(nil), 1)
        let c = run(nil, 1, runs: 3)
        XCTAssertEqual(c.counts, [3])
        XCTAssertEqual(c.sizes, [1])
        lk_pool_destroy(nil) // ignored
    }

    func testZeroThreadsMeansOne() throws {
        let p = try XCTUnwrap(lk_pool_create(0, nil))
        XCTAssertEqual(lk_pool_size(p), 1)
        XCTAssertEqual(run(p, 1, runs: 2).counts, [2])
        lk_pool_destroy(p)
    }

    func testRunsAfterIdleAndPinned() throws {
        let p = try XCTUnwrap(lk_pool_create(3, [0, 0, 0]))
        // Run from a throw-away thread: the caller of a pinned pool gets pinned to cpus[0] too.
        let counts = onFreshThread { () -> [[Int]] in
            let first = self.run(p, 3, runs: 5).counts
            Thread.sleep(forTimeInterval: 0.05) // workers fall asleep on the condition variable
            return [first, self.run(p, 3, runs: 5).counts]
        }
        XCTAssertEqual(counts, [[5, 5, 5], [5, 5, 5]])
        lk_pool_destroy(p)
    }

    func testSeveralPoolsFromSeveralThreads() throws {
        let pools = try (0..<2).map { _ in try XCTUnwrap(lk_pool_create(2, nil)) }
        let results = Counter(2)
        DispatchQueue.concurrentPerform(iterations: 4) { k in
            let c = self.run(pools[k % 2], 2, runs: 200) // two callers share each pool: runs are serialized
            results.lock.lock()
            results.counts[0] += c.counts[0]; results.counts[1] += c.counts[1]
            results.lock.unlock()
        }
        XCTAssertEqual(results.counts, [800, 800])
        pools.forEach { lk_pool_destroy($0) }
    }
}
