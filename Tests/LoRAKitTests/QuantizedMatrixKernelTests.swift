import CKernels
import Foundation
import LoRAKit
import XCTest

/// QuantizedMatrix through the kernels (quantize, dequantize a row or the whole matrix) and the ThreadPool wrapper.
final class QuantizedMatrixKernelTests: XCTestCase {
    /// Random values in ±scale from a fixed seed (never zeros).
    private func randomValues(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return (Float(s >> 40) / Float(1 << 24) * 2 - 1) * scale + scale * 1e-3
        }
    }

    func testRoundTripWithinFormatBounds() throws {
        let rows = 7, cols = 96
        let x = randomValues(rows * cols, seed: 5, scale: 3)
        for type in [GGMLType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1] {
            let m = try QuantizedMatrix.quantize(x, rows: rows, cols: cols, as: type)
            XCTAssertEqual(m.type, type)
            XCTAssertEqual(m.rows, rows)
            XCTAssertEqual(m.cols, cols)
            XCTAssertEqual(m.storage.count, m.byteCount)
            let y = m.dequantized()
            XCTAssertEqual(y.count, rows * cols)
            // Worst case per element: half a quantization step (a full step at Q4_0's clamped end),
            // with the step of a block of range 6 (|x| <= 3).
            let bound: Float
            switch type {
            case .f32: bound = 0
            case .f16: bound = 3 * Float(pow(2.0, -11.0))
            case .bf16: bound = 3 * Float(pow(2.0, -8.0))
            case .q8_0: bound = 3.0 / 127 * 0.5 * 1.1
            case .q4_0: bound = 3.0 / 8 * 1.05
            default: bound = 6.0 / 15 * 0.5 * 1.1
            }
            for i in 0..<(rows * cols) { XCTAssertLessThanOrEqual(abs(y[i] - x[i]), bound, "\(type) element \(i)") }
            for r in 0..<rows {
                XCTAssertEqual(m.dequantizeRow(r), Array(y[(r * cols)..<((r + 1) * cols)]), "\(type) row \(r)")
            }
            XCTAssertEqual(m.dequantizeRow(rows), [])
            XCTAssertEqual(m.dequantizeRow(-1), [])
        }
    }

    /// One Q8_0 block checked by hand: d = amax / 127 stored as fp16, q = round(x / d).
    func testQ8_0BlockBytes() throws {
        var x = (0..<32).map { Float($0) - 15.5 }
        x[3] = 127 // amax = 127 -> d = 1
        let m = try QuantizedMatrix.quantize(x, rows: 1, cols: 32, as: .q8_0)
        let bytes = m.withUnsafeBytes { Array(UnsafeRawBufferPointer(start: $0, count: 34)) }
        XCTAssertEqual(bytes[0], 0x00)
        XCTAssertEqual(bytes[1], 0x3c) // fp16 1.0
        let q = bytes[2...].map { Int8(bitPattern: $0) }
        XCTAssertEqual(q, x.map { Int8($0.rounded(.toNearestOrAwayFromZero)) })
        XCTAssertEqual(m.dequantizeRow(0), x.map { $0.rounded(.toNearestOrAwayFromZero) })
    }

    func testQuantizeErrors() {
        let x = [Float](repeating: 0.5, count: 64)
        XCTAssertThrowsError(try QuantizedMatrix.quantize(x, rows: 3, cols: 32, as: .q8_0)) {
            XCTAssertEqual($0 as? QuantError, .shape(rows: 3, cols: 32, count: 64))
        }
        XCTAssertThrowsError(try QuantizedMatrix.quantize(x, rows: 4, cols: 16, as: .q4_1)) {
            XCTAssertEqual($0 as? QuantError, .ragged(cols: 16, type: .q4_1))
            XCTAssertTrue("\($0)".contains("16 columns"))
        }
        XCTAssertThrowsError(try QuantizedMatrix.quantize(x + x, rows: 1, cols: 128, as: .q4_K)) {
            XCTAssertEqual($0 as? QuantError, .ragged(cols: 128, type: .q4_K))
        }
        XCTAssertTrue(try QuantizedMatrix.quantize(x + x + x + x, rows: 1, cols: 256, as: .q5_K).dequantized().allSatisfy { abs($0 - 0.5) < 1e-3 })
        XCTAssertThrowsError(try QuantizedMatrix.quantize(x, rows: -1, cols: -64, as: .f32))
        XCTAssertEqual(try QuantizedMatrix.quantize([], rows: 0, cols: 32, as: .q8_0).dequantized(), [])
    }

    func testThreadPoolRunsEveryIndexOnce() {
        XCTAssertEqual(ThreadPool.defaultThreadCount, ProcessInfo.processInfo.activeProcessorCount)
        for n in [1, 2, 3] {
            let pool = ThreadPool(threads: n)
            XCTAssertEqual(pool.threads, n)
            let lock = NSLock()
            var seen: [Int] = []
            for _ in 0..<50 {
                pool.parallel { i, count in
                    XCTAssertEqual(count, n)
                    lock.lock(); seen.append(i); lock.unlock()
                }
            }
            XCTAssertEqual(seen.sorted(), (0..<n).flatMap { Array(repeating: $0, count: 50) })
        }
        XCTAssertEqual(ThreadPool(threads: 0).threads, 1)
    }

    func testThreadPoolIgnoresShortCPUList() {
        final class Result: @unchecked Sendable {
            var sizes: [Int] = []
            let done = DispatchSemaphore(value: 0)
        }
        let result = Result()
        Thread { // a pinned pool pins its caller: keep that off the test runner's thread
            let pool = ThreadPool(threads: 2, cpus: [0]) // too short: unpinned
            let lock = NSLock()
            var hits = [0, 0]
            pool.parallel { i, _ in lock.lock(); hits[i] += 1; lock.unlock() }
            result.sizes = [pool.threads] + hits
            result.done.signal()
        }.start()
        result.done.wait()
        XCTAssertEqual(result.sizes, [2, 1, 1])
    }
}
