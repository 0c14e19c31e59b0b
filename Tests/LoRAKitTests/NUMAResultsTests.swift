import CKernels
import Foundation
import LoRAKit
import XCTest

/// The frozen-weight products under every NUMA mode: pinning and placement must not change a
/// single bit at a fixed thread count, and thread counts agree within 1e-6 (relative, max-norm).
final class NUMAResultsTests: XCTestCase {
    /// Runs `body` on a new thread: pools pin their calling thread, which must not be the runner's.
    func onFreshThread<R>(_ body: @escaping () throws -> R) throws -> R {
        let box = ResultBox<R>()
        let done = DispatchSemaphore(value: 0)
        let th = Thread {
            box.result = Result { try body() }
            done.signal()
        }
        th.start()
        done.wait()
        return try box.result!.get()
    }

    /// W [out, in] quantized to Q4_1 from random floats.
    func randomQ41(out: Int, cols: Int, seed: UInt64) throws -> QuantizedMatrix {
        let rowBytes = GGMLType.q4_1.rowBytes(cols)!
        let values = SplitMix64.uniformSymmetric(seed: seed, count: out * cols)
        let storage = try ByteStorage.allocate(count: out * rowBytes) { p in
            for r in 0..<out {
                let rc = values.withUnsafeBufferPointer { lk_quantize_row(LK_Q4_1, p + r * rowBytes, $0.baseAddress! + r * cols, Int64(cols)) }
                if rc != 0 { throw NUMAError.noAllowedCPUs }
            }
        }
        return try XCTUnwrap(QuantizedMatrix(type: .q4_1, rows: out, cols: cols, storage: storage, offset: 0))
    }

    /// Written by the thread before it signals, read after the wait.
    final class ResultBox<R>: @unchecked Sendable { var result: Result<R, Error>? }

    struct Products: Equatable { var y: [Float]; var dx: [Float] }

    /// Y = X·Wᵀ and dX = dY·W on a pool made from `cpus`, with `w` as given (placed or not).
    func products(_ w: QuantizedMatrix, threads: Int, cpus: [Int32]?, x: [Float], dy: [Float], tokens: Int) throws -> Products {
        try onFreshThread {
            let pool = cpus.map { c in c.withUnsafeBufferPointer { lk_pool_create(Int32(threads), $0.baseAddress) } }
                ?? lk_pool_create(Int32(threads), nil)
            defer { lk_pool_destroy(pool) }
            let (out, cols, T) = (Int64(w.rows), Int64(w.cols), Int64(tokens))
            var y = [Float](repeating: .nan, count: tokens * w.rows)
            var dx = [Float](repeating: .nan, count: tokens * w.cols)
            w.withUnsafeBytes { wp in
                lk_qmatmul_fwd(pool, nil, &y, out, x, cols, LK_Q4_1, wp, out, cols, T, 0)
                lk_qmatmul_bwd_data(pool, nil, &dx, cols, dy, out, LK_Q4_1, wp, out, cols, T, 0)
            }
            return Products(y: y, dx: dx)
        }
    }

    func relativeMaxError(_ a: [Float], _ b: [Float]) -> Float {
        let scale = max(a.map { abs($0) }.max() ?? 0, Float.leastNormalMagnitude)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    func testBitwiseAcrossModesAndCloseAcrossThreadCounts() throws {
        let t = NUMATopology.current()
        let (out, cols, tokens) = (517, 1024, 37)  // ragged: 517 rows split over 1-3 threads
        let w = try randomQ41(out: out, cols: cols, seed: 21)
        let x = SplitMix64.uniformSymmetric(seed: 22, count: tokens * cols)
        let dy = SplitMix64.uniformSymmetric(seed: 23, count: tokens * out)
        var byThreads: [Products] = []
        for threads in [1, 2, 3] {
            var results: [(String, Products)] = []
            for mode in NUMAMode.allCases {
                let plan = try NUMAPlan.make(topology: t, threads: threads, mode: mode)
                let placed = try NUMAPlacement.place(w, plan: plan, align: 1)
                results.append(("\(mode)", try products(placed, threads: threads, cpus: plan.poolCPUs, x: x, dy: dy, tokens: tokens)))
            }
            // A two-node plan (one CPU per node) onto this machine: pinned as planned, both row
            // parts bound to the first allowed memory node.
            if t.allowedCPUs.count >= 2, let node = t.allowedMemoryNodes.first {
                let two = NUMATopology(nodes: [.init(id: 0, cpus: [t.allowedCPUs[0]], memoryBytes: 1 << 30, freeBytes: 1 << 30),
                                               .init(id: 1, cpus: [t.allowedCPUs[1]], memoryBytes: 1 << 30, freeBytes: 1 << 30)])
                let plan = try NUMAPlan.make(topology: two, threads: threads, mode: .distribute)
                let placed = try NUMAPlacement.place(w, partition: plan.rowPartition(rows: out, align: 1),
                                                     nodes: plan.groups.map { _ in node }, policy: .bind)
                results.append(("two-node", try products(placed, threads: threads, cpus: plan.poolCPUs, x: x, dy: dy, tokens: tokens)))
            }
            for (name, r) in results.dropFirst() {
                XCTAssertTrue(r == results[0].1, "threads \(threads): \(name) differs from \(results[0].0)")
            }
            XCTAssertFalse(results[0].1.y.contains { !$0.isFinite })
            XCTAssertFalse(results[0].1.dx.contains { !$0.isFinite })
            byThreads.append(results[0].1)
        }
        // Against the fp64 scalar reference and across thread counts.
        var yRef = [Float](repeating: 0, count: tokens * out)
        var dxRef = [Float](repeating: 0, count: tokens * cols)
        w.withUnsafeBytes { wp in
            lk_qmatmul_fwd_ref(&yRef, Int64(out), x, Int64(cols), LK_Q4_1, wp, Int64(out), Int64(cols), Int64(tokens))
            lk_qmatmul_bwd_data_ref(&dxRef, Int64(cols), dy, Int64(out), LK_Q4_1, wp, Int64(out), Int64(cols), Int64(tokens))
        }
        for (i, r) in byThreads.enumerated() {
            print("NUMAResults: \(i + 1) threads: fwd err \(relativeMaxError(yRef, r.y)), bwd-data err \(relativeMaxError(dxRef, r.dx)) (relative max-norm vs fp64 ref); vs 1 thread: \(relativeMaxError(byThreads[0].y, r.y)), \(relativeMaxError(byThreads[0].dx, r.dx))")
            XCTAssertLessThan(relativeMaxError(yRef, r.y), 1e-6, "fwd, \(i + 1) threads vs reference")
            XCTAssertLessThan(relativeMaxError(dxRef, r.dx), 1e-6, "bwd-data, \(i + 1) threads vs reference")
            XCTAssertLessThan(relativeMaxError(byThreads[0].y, r.y), 1e-6)
            XCTAssertLessThan(relativeMaxError(byThreads[0].dx, r.dx), 1e-6)
        }
    }
}
