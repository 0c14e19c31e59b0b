import XCTest
@testable import LoRAKit

/// `Evaluator` with a BOS token (what `lorakit eval` does when the file says add_bos_token): each window is BOS
/// followed by the next context − 1 text tokens, the same as scoring those windows written out by hand.
final class EvaluatorBOSTests: XCTestCase {
    func testBOSWindowsEqualHandWrittenWindows() throws {
        let w = try GoldenFixture.smolLM2()
        let pool = ThreadPool(threads: 2)
        let text = (0..<47).map { Int32(100 + $0 * 37 % 900) }, ctx = 16, bos: Int32 = 1
        let r = try Evaluator.evaluate(model: w, tokens: text, context: ctx, windows: 3, pool: pool, bos: bos)
        XCTAssertTrue(r.bosAdded)
        XCTAssertEqual(r.windows, 3)
        XCTAssertEqual(r.tokensScored, 3 * (ctx - 1))
        var manual: [Int32] = []
        for k in 0..<3 { manual += [bos] + text[(k * (ctx - 1))..<((k + 1) * (ctx - 1))] }
        let m = try Evaluator.evaluate(model: w, tokens: manual, context: ctx, windows: 3, pool: pool)
        XCTAssertFalse(m.bosAdded)
        XCTAssertEqual(r.meanLoss, m.meanLoss, accuracy: 1e-9)
        XCTAssertThrowsError(try Evaluator.evaluate(model: w, tokens: Array(text.prefix(14)), context: ctx, windows: 1, pool: pool,
                                                    bos: bos)) { XCTAssertEqual($0 as? EvalError, .notEnoughTokens(have: 14, need: 15)) }
    }
}
