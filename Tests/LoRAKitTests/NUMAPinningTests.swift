import CKernels
import Foundation
import LoRAKit
import XCTest

/// Pinning on the real machine: a pool made with a plan's CPUs runs each worker on its CPU.
final class NUMAPinningTests: XCTestCase {
    /// Each pool thread's affinity mask, read from inside a task (`sched_getaffinity`).
    final class Probe {
        let masks: UnsafeMutablePointer<[Int]>
        let count: Int
        init(_ n: Int) {
            count = n
            masks = .allocate(capacity: n)
            masks.initialize(repeating: [], count: n)
        }
        deinit {
            masks.deinitialize(count: count)
            masks.deallocate()
        }
    }

    /// Creates a pool with `cpus` (nil: unpinned), runs one task on it and returns each thread's
    /// mask. Runs on a fresh thread: the pool pins its calling thread, which must not be the
    /// test runner's.
    func workerMasks(threads: Int, cpus: [Int32]?) throws -> [[Int]] {
        let probe = Probe(threads)
        final class Flag: @unchecked Sendable { var created = false }  // written before signal, read after wait
        let flag = Flag()
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            let pool: OpaquePointer? = cpus.map { c in c.withUnsafeBufferPointer { lk_pool_create(Int32(threads), $0.baseAddress) } }
                ?? lk_pool_create(Int32(threads), nil)
            if let pool {
                flag.created = true
                for _ in 0..<3 {  // every run, not only the first
                    lk_pool_run(pool, { ctx, i, _ in
                        let p = Unmanaged<Probe>.fromOpaque(ctx!).takeUnretainedValue()
                        p.masks[Int(i)] = CPUSet.threadAffinity() ?? []
                    }, Unmanaged.passUnretained(probe).toOpaque())
                }
                lk_pool_destroy(pool)
            }
            done.signal()
        }
        thread.start()
        done.wait()
        XCTAssertTrue(flag.created, "lk_pool_create failed")
        return Array(UnsafeBufferPointer(start: probe.masks, count: threads))
    }

    func testPlannedWorkersRunOnTheirCPUs() throws {
        let t = NUMATopology.current()
        let all = t.allowedCPUs.count
        for mode in [NUMAMode.distribute, .isolate] {
            for threads in [nil, 1, all + 1, 2 * all + 1] {
                let plan = try NUMAPlan.make(topology: t, threads: threads, mode: mode)
                let cpus = try XCTUnwrap(plan.poolCPUs)
                let masks = try workerMasks(threads: plan.threads, cpus: cpus)
                for (i, mask) in masks.enumerated() {
                    XCTAssertEqual(mask, [Int(cpus[i])], "\(mode) threads \(plan.threads): worker \(i)")
                    // and on the node the plan put it
                    XCTAssertEqual(t.node(ofCPU: mask[0]), plan.groups[plan.group(ofWorker: i)].node)
                }
            }
        }
    }

    /// The Swift `ThreadPool` made from a plan: each index runs on the planned CPU, every run.
    func testThreadPoolFromAPlan() throws {
        let t = NUMATopology.current()
        for (mode, threads) in [(NUMAMode.distribute, nil), (.isolate, 3), (.distribute, 2 * t.allowedCPUs.count)] {
            let plan = try NUMAPlan.make(topology: t, threads: threads, mode: mode)
            let probe = Probe(plan.threads)
            let done = DispatchSemaphore(value: 0)
            let th = Thread {  // the pool pins the thread that runs it
                let pool = ThreadPool(threads: plan.threads, cpus: plan.poolCPUs)
                for _ in 0..<3 {
                    pool.parallel { i, _ in probe.masks[i] = CPUSet.threadAffinity() ?? [] }
                }
                done.signal()
            }
            th.start()
            done.wait()
            let cpus = try XCTUnwrap(plan.workerCPUs)
            for i in 0..<plan.threads {
                XCTAssertEqual(probe.masks[i], [cpus[i]], "\(mode) \(plan.threads) threads: index \(i)")
            }
        }
    }

    func testUnpinnedPlanLeavesTheMaskWhole() throws {
        let t = NUMATopology.current()
        let plan = try NUMAPlan.make(topology: t, threads: 3, mode: .off)
        XCTAssertNil(plan.poolCPUs)
        let masks = try workerMasks(threads: plan.threads, cpus: plan.poolCPUs)
        for mask in masks { XCTAssertEqual(mask, t.allowedCPUs) }
    }

    func testTheTestThreadWasNotPinned() throws {
        let t = NUMATopology.current()
        _ = try workerMasks(threads: 2, cpus: [Int32(t.allowedCPUs[0]), Int32(t.allowedCPUs[0])])
        XCTAssertEqual(CPUSet.threadAffinity(), t.allowedCPUs)
        XCTAssertEqual(NUMATopology.current().allowedCPUs, t.allowedCPUs)
    }
}
