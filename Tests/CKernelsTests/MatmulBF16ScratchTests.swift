import CKernels
import XCTest

/// The bf16 products with planned scratch (`lk_bf16_scratch_bytes`, any alignment) give bitwise the results of
/// the same products allocating per call, for every block type family, 1-3 threads, forward and backward,
/// plain and packed W.
final class MatmulBF16ScratchTests: XCTestCase {
    func testPlannedScratchEqualsPerCallAllocation() {
        var rng = SplitMix64(seed: 1234)
        let pools: [OpaquePointer?] = [nil] + (2...3).map { lk_pool_create(Int32($0), nil) }
        defer { for p in pools where p != nil { lk_pool_destroy(p) } }
        let cases: [(lk_type, Int, Int, Int)] = [(LK_Q4_1, 13, 70, 96), (LK_Q8_0, 9, 600, 576), (LK_Q4_K, 17, 45, 1280), (LK_Q6_K, 3, 300, 768)]
        for p in pools {
            let threads = Int32(lk_pool_size(p))
            for (t, T, out, inn) in cases {
                let w = QuantTestData.randomFloats(out * inn, &rng)
                var q = [UInt8](repeating: 0, count: out * inn / Int(lk_type_block_size(t)) * Int(lk_type_block_bytes(t)))
                q.withUnsafeMutableBytes { XCTAssertEqual(lk_quantize_row(t, $0.baseAddress!, w, Int64(out * inn)), 0) }
                let x = QuantTestData.randomFloats(T * inn, &rng), dy = QuantTestData.randomFloats(T * out, &rng)
                let n = lk_bf16_scratch_bytes(threads, Int64(T), Int64(max(out, inn)))
                XCTAssertGreaterThan(n, 0)
                let raw = UnsafeMutableRawPointer.allocate(byteCount: n + 3, alignment: 64)
                defer { raw.deallocate() }
                memset(raw, 0x7f, n + 3)
                let scratch = raw + 3   // any alignment
                var y1 = [Float](repeating: 0, count: T * out), y2 = y1
                var d1 = [Float](repeating: 0, count: T * inn), d2 = d1
                q.withUnsafeBytes { wq in
                    lk_qmatmul_fwd_bf16(p, nil, &y1, Int64(out), x, Int64(inn), t, wq.baseAddress, Int64(out), Int64(inn), Int64(T), 0)
                    lk_qmatmul_fwd_bf16(p, scratch, &y2, Int64(out), x, Int64(inn), t, wq.baseAddress, Int64(out), Int64(inn), Int64(T), 0)
                    lk_qmatmul_bwd_data_bf16(p, nil, &d1, Int64(inn), dy, Int64(out), t, wq.baseAddress, Int64(out), Int64(inn), Int64(T), 0)
                    lk_qmatmul_bwd_data_bf16(p, scratch, &d2, Int64(inn), dy, Int64(out), t, wq.baseAddress, Int64(out), Int64(inn), Int64(T), 0)
                }
                XCTAssertEqual(y1.map(\.bitPattern), y2.map(\.bitPattern), "fwd \(t) \(threads) threads")
                XCTAssertEqual(d1.map(\.bitPattern), d2.map(\.bitPattern), "bwd \(t) \(threads) threads")
                XCTAssertTrue(y1.contains { $0 != 0 } && d1.contains { $0 != 0 })
                // Packed W: the same products through the packed layouts.
                for bwd in [Int32(0), 1] {
                    let bytes = Int(lk_bf16_packed_bytes(Int64(out), Int64(inn), bwd))
                    let packed = UnsafeMutablePointer<UInt32>.allocate(capacity: bytes / 4)
                    defer { packed.deallocate() }
                    q.withUnsafeBytes { XCTAssertEqual(lk_bf16_pack_weights(p, packed, t, $0.baseAddress, Int64(out), Int64(inn), bwd), 0) }
                    if bwd == 0 {
                        var a = [Float](repeating: 0, count: T * out), b = a
                        lk_matmul_fwd_bf16_packed(p, nil, &a, Int64(out), x, Int64(inn), packed, Int64(out), Int64(inn), Int64(T), 0)
                        lk_matmul_fwd_bf16_packed(p, scratch, &b, Int64(out), x, Int64(inn), packed, Int64(out), Int64(inn), Int64(T), 0)
                        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
                        XCTAssertEqual(a.map(\.bitPattern), y1.map(\.bitPattern))
                    } else {
                        var a = [Float](repeating: 0, count: T * inn), b = a
                        lk_matmul_bwd_data_bf16_packed(p, nil, &a, Int64(inn), dy, Int64(out), packed, Int64(out), Int64(inn), Int64(T), 0)
                        lk_matmul_bwd_data_bf16_packed(p, scratch, &b, Int64(inn), dy, Int64(out), packed, Int64(out), Int64(inn), Int64(T), 0)
                        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern))
                        XCTAssertEqual(a.map(\.bitPattern), d1.map(\.bitPattern))
                    }
                }
            }
        }
    }
}
