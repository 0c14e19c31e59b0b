import Foundation
import XCTest

/// `lorakit tokenize` prints the ids Hugging Face gives for text on stdin.
final class TokenizeTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizer")

    func testPrintsIds() throws {
        let model = fixtures.appendingPathComponent("smollm2/tokenizer.json").path
        let r = try runLorakit(["tokenize", "--model", model], stdin: "Hello world")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "19556 905\n")
        let s = try runLorakit(["tokenize", "--model", model], stdin: "<|im_start|>user")
        XCTAssertEqual(s.stdout, "1 4093\n")
        let n = try runLorakit(["tokenize", "--model", model, "--no-special"], stdin: "<|im_start|>")
        XCTAssertFalse(n.stdout.split(separator: " ").contains("1"), n.stdout)
    }

    func testJSONHasPieces() throws {
        let model = fixtures.appendingPathComponent("llama3/tokenizer.json").path
        let r = try runLorakit(["tokenize", "--model", model, "--json"], stdin: "Hello world")
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(obj["ids"] as? [Int], [128000, 9906, 1917])
        let tokens = try XCTUnwrap(obj["tokens"] as? [[String: Any]])
        XCTAssertEqual(tokens.map { $0["piece"] as? String }, ["<|begin_of_text|>", "Hello", "Ġworld"])
        XCTAssertEqual(tokens.map { $0["text"] as? String }, ["<|begin_of_text|>", "Hello", " world"])
        let nb = try runLorakit(["tokenize", "--model", model, "--no-bos"], stdin: "Hello world")
        XCTAssertEqual(nb.stdout, "9906 1917\n")
    }

    func testGGUFModel() throws {
        let path = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
            ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("model not found at \(path)") }
        let r = try runLorakit(["tokenize", "--model", path], stdin: "Hello world 123")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "19556 905 216 33 34 35\n")
    }

    func testBadModelFails() throws {
        let r = try runLorakit(["tokenize", "--model", "/no/such/model.gguf"], stdin: "x")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/no/such/model.gguf"), r.stderr)
    }
}
