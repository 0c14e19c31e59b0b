import Foundation
import XCTest

/// `lorakit generate` and `lorakit merge` end to end on SmolLM2 (greedy text from the transformers fixture,
/// adapter labels, the merge report).
final class GenerateTests: XCTestCase {
    let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    func modelPath() throws -> String {
        let path = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
            ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("model not found at \(path)") }
        return path
    }

    func testGreedyChatMatchesTransformersText() throws {
        let model = try modelPath()
        let data = try Data(contentsOf: fixtures.appendingPathComponent("generate/greedy.json"))
        let fx = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try XCTUnwrap(fx["cases"] as? [[String: Any]])
        let chat = try XCTUnwrap(cases.first { $0["name"] as? String == "chat0" })
        let msgs = try XCTUnwrap(chat["messages"] as? [[String: String]])
        let r = try runLorakit(["generate", "--model", model, "--chat", "--prompt", msgs[0]["content"]!, "--max-tokens", "24",
                                "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, (chat["new_text"] as? String ?? "") + "\n")
    }

    func testSeveralAdaptersArePrintedUnderLabels() throws {
        let model = try modelPath()
        let prompts = NSTemporaryDirectory() + "lorakit-prompts-\(UUID().uuidString).txt"
        defer { try? FileManager.default.removeItem(atPath: prompts) }
        try "The capital of France is\nOnce upon a time\n".write(toFile: prompts, atomically: false, encoding: .utf8)
        let adapter = fixtures.appendingPathComponent("peft/adapter").path
        let r = try runLorakit(["generate", "--model", model, "--adapter", adapter, "--with-base", "--prompts", prompts,
                                "--max-tokens", "6", "--threads", "2", "--temperature", "0.7", "--seed", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let labels = r.stdout.split(separator: "\n").filter { $0.hasPrefix("### ") }
        XCTAssertEqual(labels, ["### [base] prompt 1: The capital of France is", "### [adapter] prompt 1: The capital of France is",
                                "### [base] prompt 2: Once upon a time", "### [adapter] prompt 2: Once upon a time"])
        let bad = try runLorakit(["generate", "--model", model])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--prompt"), bad.stderr)
    }

    func testMergeReportsEveryMatrix() throws {
        let model = try modelPath()
        let out = NSTemporaryDirectory() + "lorakit-merge-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let adapter = fixtures.appendingPathComponent("peft/adapter").path
        let r = try runLorakit(["merge", "--model", model, "--adapter", adapter, "--out", out, "--type", "q8_0", "--threads", "2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.filter { $0.hasPrefix("blk.") && $0.contains(" Q8_0 ") && $0.contains("rel.err") && $0.contains("survived") }.count,
                       120, r.stdout)
        XCTAssertTrue(lines.contains { $0.hasPrefix("adapter change survived: ") }, r.stdout)
        XCTAssertFalse(r.stderr.contains("warning"), r.stderr)   // Q8_0 keeps the change
        XCTAssertTrue(lines.last?.hasPrefix("merged 120 matrices into") ?? false, r.stdout)
        let data = try Data(contentsOf: URL(fileURLWithPath: out), options: .alwaysMapped)
        XCTAssertEqual(Array(data.prefix(4)), Array("GGUF".utf8))
        let bad = try runLorakit(["merge", "--model", model, "--adapter", adapter, "--out", out, "--type", "q2_k"])  // q4_k is a merge type now
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("unknown merge type"), bad.stderr)
    }
}
