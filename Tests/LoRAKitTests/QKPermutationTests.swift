import XCTest
@testable import LoRAKit

/// The Q/K row permutation against an independent formulation: gguf-py's converter reshapes the
/// rows to [heads, 2, hd/2], swaps the last two axes and flattens.
final class QKPermutationTests: XCTestCase {
    /// hf rows viewed as [h][j][i] (j ∈ {0,1}, i < hd/2) → gguf rows [h][i][j].
    static func reshapeSwap(_ hf: [Float], heads: Int, headDim: Int, cols: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(hf.count)
        for h in 0 ..< heads {
            for i in 0 ..< headDim / 2 {
                for j in 0 ..< 2 {
                    let row = (h * 2 + j) * (headDim / 2) + i
                    out.append(contentsOf: hf[row * cols ..< (row + 1) * cols])
                }
            }
        }
        return out
    }

    func testSmallExplicitMap() {
        // 2 heads of 4: gguf row order takes hf rows 0,2,1,3 then 4,6,5,7.
        XCTAssertEqual(QKPermutation.hfRowForGGUFRow(heads: 2, headDim: 4), [0, 2, 1, 3, 4, 6, 5, 7])
        XCTAssertEqual(QKPermutation.hfRowForGGUFRow(heads: 1, headDim: 6), [0, 3, 1, 4, 2, 5])
    }

    func testMatchesReshapeSwapOnRandomRaggedShapes() throws {
        var rng = SystemRandomNumberGenerator()
        for (heads, hd, cols) in [(9, 64, 4), (3, 64, 7), (5, 6, 3), (1, 2, 1), (4, 10, 13)] {
            let m = (0 ..< heads * hd * cols).map { _ in Float.random(in: -1 ... 1, using: &rng) }
            let g = try QKPermutation.hfToGGUF(m, rows: heads * hd, cols: cols, heads: heads)
            XCTAssertEqual(g, Self.reshapeSwap(m, heads: heads, headDim: hd, cols: cols), "\(heads)×\(hd)×\(cols)")
            XCTAssertEqual(try QKPermutation.ggufToHF(g, rows: heads * hd, cols: cols, heads: heads), m)
            if hd > 2 { XCTAssertNotEqual(g, m) }
        }
    }

    func testRejectsOddHeadDimAndBadSizes() {
        XCTAssertThrowsError(try QKPermutation.hfToGGUF([Float](repeating: 1, count: 6), rows: 6, cols: 1, heads: 2)) { e in
            XCTAssertTrue("\(e)".contains("2 heads of even size"), "\(e)")
        }
        XCTAssertThrowsError(try QKPermutation.ggufToHF([1, 2, 3], rows: 4, cols: 1, heads: 1))
    }

    func testHeadsPerTarget() {
        let c = LlamaConfig(blockCount: 1, embeddingLength: 576, feedForwardLength: 1536, headCount: 9, headCountKV: 3,
                            vocabSize: 10, contextLength: 16, ropeFreqBase: 1e4, rmsNormEps: 1e-5, tiedEmbeddings: true)
        XCTAssertEqual(QKPermutation.heads(for: .q_proj, model: c), 9)
        XCTAssertEqual(QKPermutation.heads(for: .k_proj, model: c), 3)
        XCTAssertNil(QKPermutation.heads(for: .v_proj, model: c))
        XCTAssertNil(QKPermutation.heads(for: .down_proj, model: c))
    }
}
