import Foundation
import XCTest

/// `lorakit tokenize` with the SentencePiece (Gemma 3) tokenizer-only fixture: ids, pieces and whether BOS was added.
final class TokenizeCLITests: XCTestCase {
    var gemma: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/tokenizer/gemma3/tokenizer.gguf").path
    }

    func testGemmaTokenizeReportsBOSAndSpecials() throws {
        let r = try runLorakit(["tokenize", "--model", gemma, "--json"], stdin: "<start_of_turn>user\nHi")
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["bosAdded"] as? Bool, true)
        let ids = try XCTUnwrap(obj["ids"] as? [Int])
        XCTAssertEqual(Array(ids.prefix(4)), [2, 105, 2364, 107])
        let plain = try runLorakit(["tokenize", "--model", gemma, "--no-bos"], stdin: "Hi")
        XCTAssertEqual(plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").first.map(String.init), "10979")
    }
}
