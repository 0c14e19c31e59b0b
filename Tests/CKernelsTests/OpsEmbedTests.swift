import CKernels
import XCTest

/// Embedding gather: each type's rows (quantized here with lk_quantize_row) gathered by every ISA path and threaded,
/// bit-identical to the reference dequantization of the same rows.
final class OpsEmbedTests: XCTestCase {
    func testGatherMatchesReferenceDequantization() throws {
        var rng = SplitMix64(seed: 41)
        let rows = 50, C = 96, T = 41
        let ids = (0..<T).map { t in t % 7 == 0 ? Int32(3) : Int32(rng.next() % UInt64(rows)) } // with repeats
        let pool = try XCTUnwrap(opsMakePool(2))
        defer { opsDestroyPool(pool) }
        for type in [LK_F32, LK_F16, LK_BF16, LK_Q8_0, LK_Q4_0, LK_Q4_1] {
            let blockSize = Int(lk_type_block_size(type)), blockBytes = Int(lk_type_block_bytes(type))
            let rowBytes = C / blockSize * blockBytes
            let weights = opsRandom(rows * C, &rng, scale: 0.2)
            var table = [UInt8](repeating: 0, count: rows * rowBytes)
            for r in 0..<rows {
                let src = Array(weights[(r * C)..<((r + 1) * C)])
                var block = [UInt8](repeating: 0, count: rowBytes)
                XCTAssertEqual(lk_quantize_row(type, &block, src, Int64(C)), 0)
                table.replaceSubrange((r * rowBytes)..<((r + 1) * rowBytes), with: block)
            }
            var ref = [Float](repeating: .nan, count: T * C)
            lk_embed_rows_ref(&ref, Int32(type.rawValue), table, Int64(rowBytes), ids, Int64(T), Int64(C))
            for t in 0..<T {
                var row = [Float](repeating: 0, count: C)
                table.withUnsafeBytes { lk_dequantize_row_ref(type, &row, $0.baseAddress! + Int(ids[t]) * rowBytes, Int64(C)) }
                XCTAssertEqual(Array(ref[(t * C)..<((t + 1) * C)]), row, "type \(type.rawValue) t=\(t)")
            }
            for isa in opsISAs {
                for p in [nil, pool] {
                    var out = [Float](repeating: .nan, count: T * C)
                    lk_embed_rows_isa(isa, p, &out, Int32(type.rawValue), table, Int64(rowBytes), ids, Int64(T), Int64(C))
                    XCTAssertEqual(out, ref, "type \(type.rawValue) \(opsISAName(isa))")
                }
            }
            var out = [Float](repeating: .nan, count: T * C)
            lk_embed_rows(pool, &out, Int32(type.rawValue), table, Int64(rowBytes), ids, Int64(T), Int64(C))
            XCTAssertEqual(out, ref)
        }
    }
}
