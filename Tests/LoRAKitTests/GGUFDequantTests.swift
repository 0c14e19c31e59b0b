import CKernels
import Foundation
import XCTest
@testable import LoRAKit

/// Path of a committed fixture under Tests/Fixtures/.
func fixturePath(_ rel: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/" + rel).path
}

/// Golden values written by scripts/fixtures/gguf_dequant.py with gguf-py.
struct DequantGolden: Decodable {
    struct Tensor: Decodable {
        var name: String
        var type: String
        var dims: [Int]
        var rows: [String: [Double]]
        var sum: Double
        var sumsq: Double
    }
    var tensors: [Tensor]

    static func load(_ rel: String) throws -> DequantGolden {
        try JSONDecoder().decode(DequantGolden.self, from: Data(contentsOf: URL(fileURLWithPath: fixturePath(rel))))
    }
}

final class GGUFDequantTests: XCTestCase {
    /// Dequantizes every row of `name` and checks the golden rows exactly and the checksums.
    private func check(_ f: GGUFFile, _ g: DequantGolden.Tensor) throws {
        let info = try XCTUnwrap(f.tensorInfo(named: g.name))
        XCTAssertEqual(info.dims, g.dims, g.name)
        XCTAssertEqual(info.type.description, g.type, g.name)
        let m = try f.matrix(named: g.name)
        var row = [Float](repeating: 0, count: m.cols)
        var sum = 0.0, sumsq = 0.0
        try m.withUnsafeBytes { base in
            for r in 0 ..< m.rows {
                try row.withUnsafeMutableBufferPointer { try RowCodec.dequantize(m.type, $0.baseAddress!, base + r * m.rowBytes, m.cols) }
                for v in row { sum += Double(v); sumsq += Double(v) * Double(v) }
                if let want = g.rows[String(r)] {
                    XCTAssertEqual(want.count, m.cols)
                    let bad = zip(row, want).enumerated().first { $0.element.0 != Float($0.element.1) }
                    XCTAssertNil(bad, "\(g.name) row \(r) col \(bad?.offset ?? -1): \(bad.map { "\($0.element.0) vs \($0.element.1)" } ?? "")")
                }
            }
        }
        XCTAssertEqual(sum, g.sum, accuracy: 1e-9 * max(1, g.sumsq), g.name)
        XCTAssertEqual(sumsq, g.sumsq, accuracy: 1e-9 * g.sumsq, g.name)
    }

    func testSmolLM2DequantizesLikeGGUFPy() throws {
        let f = try GGUFFile(path: try smolLM2Path())
        let golden = try DequantGolden.load("gguf/smollm2_dequant.json")
        XCTAssertEqual(Set(golden.tensors.map(\.type)), ["Q8_0", "Q4_1", "F32"])
        for g in golden.tensors { try check(f, g) }
    }

    func testKQuantsDequantizeLikeGGUFPy() throws {
        let f = try GGUFFile(path: fixturePath("gguf/kquants.gguf"))
        let golden = try DequantGolden.load("gguf/kquants_dequant.json")
        XCTAssertEqual(Set(golden.tensors.map(\.type)), ["Q4_K", "Q6_K", "Q5_0", "Q5_1", "Q5_K"])
        for g in golden.tensors { try check(f, g) }
    }

    /// Rows of real tensors written by llama-quantize (a Q4_K_M file: Q4_K, Q6_K and Q5_0 blocks) against gguf-py.
    func testRealLlamaQuantizeBlocksDequantizeLikeGGUFPy() throws {
        let f = try GGUFFile(path: fixturePath("gguf/real_kquants.gguf"))
        let golden = try DequantGolden.load("gguf/real_kquants_dequant.json")
        XCTAssertEqual(Set(golden.tensors.map(\.type)), ["Q4_K", "Q6_K", "Q5_0"])
        for g in golden.tensors { try check(f, g) }
    }

    /// Every ISA's kernels on the fixture's random blocks, bit for bit against gguf-py's values.
    func testNewBlocksDequantizeLikeGGUFPyOnEveryISA() throws {
        let f = try GGUFFile(path: fixturePath("gguf/kquants.gguf"))
        let golden = try DequantGolden.load("gguf/kquants_dequant.json")
        for g in golden.tensors {
            let m = try f.matrix(named: g.name)
            for isa in [LK_ISA_SCALAR, LK_ISA_NEON, LK_ISA_AVX2, LK_ISA_AVX512] where lk_isa_supported(isa) != 0 {
                var y = [Float](repeating: .nan, count: m.rows * m.cols)
                m.withUnsafeBytes { lk_dequantize_row_isa(isa, m.type.lk, &y, $0, Int64(m.rows * m.cols)) }
                for r in 0 ..< m.rows {
                    let want = try XCTUnwrap(g.rows[String(r)]).map { Float($0).bitPattern }
                    XCTAssertEqual(Array(y[r * m.cols ..< (r + 1) * m.cols]).map(\.bitPattern), want, "\(g.name) row \(r) isa \(isa.rawValue)")
                }
            }
        }
    }

    /// Rows and, per type name, the hex block bytes a reference quantizer made of them.
    struct QuantizeGolden: Decodable { var rows: [[Float]]; var types: [String: [String]] }

    /// Quantizes every golden row to every golden type and compares the bytes.
    private func checkQuantization(_ rel: String, line: UInt = #line) throws {
        let g = try JSONDecoder().decode(QuantizeGolden.self, from: Data(contentsOf: URL(fileURLWithPath: fixturePath(rel))))
        XCTAssertFalse(g.types.isEmpty, line: line)
        for (name, hexRows) in g.types {
            let type = try XCTUnwrap(GGMLType(name: name))
            for (i, row) in g.rows.enumerated() {
                let q = try QuantizedMatrix.quantize(row, rows: 1, cols: row.count, as: type)
                let hex = q.withUnsafeBytes { p in (0 ..< q.byteCount).map { String(format: "%02x", p.load(fromByteOffset: $0, as: UInt8.self)) }.joined() }
                XCTAssertEqual(hex, hexRows[i], "\(rel) \(name) row \(i)", line: line)
            }
        }
    }

    /// Q5_0 / Q5_1 quantization gives the bytes gguf-py's quantize gives (ggml's reference rounding).
    func testQ5QuantizationMatchesGGUFPy() throws { try checkQuantization("gguf/q5_quantize.json") }

    /// Every type's quantization (K-quants included) gives the bytes of ggml's own quantize_row_*_ref, compiled
    /// from the llama.cpp sources without FMA contraction (scripts/fixtures/ggml_quantize.py).
    func testQuantizationMatchesGGMLReference() throws { try checkQuantization("gguf/ggml_quantize.json") }
}
