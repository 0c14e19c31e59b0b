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
        XCTAssertEqual(Set(golden.tensors.map(\.type)), ["Q4_K", "Q6_K"])
        for g in golden.tensors { try check(f, g) }
    }
}
