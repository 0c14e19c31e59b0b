import Foundation
import XCTest

/// `lorakit inspect` on the default model (skips when it is absent).
final class InspectTests: XCTestCase {
    private func modelPath() throws -> String {
        let path = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
            ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("test model not found at \(path): run scripts/fetch-model or set LORAKIT_MODEL")
        }
        return path
    }

    func testInspectTable() throws {
        let r = try runLorakit(["inspect", try modelPath()])
        XCTAssertEqual(r.status, 0, r.stderr)
        for s in ["GGUF", "layers", "30", "576", "1536", "49152", "Q4_1", "Q8_0", "F32", "gpt2", "smollm", "chat template", "present"] {
            XCTAssertTrue(r.stdout.contains(s), "missing '\(s)' in:\n\(r.stdout)")
        }
    }

    func testInspectJSON() throws {
        let path = try modelPath()
        let r = try runLorakit(["inspect", path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let config = try XCTUnwrap(obj["config"] as? [String: Any])
        XCTAssertEqual(config["blockCount"] as? Int, 30)
        XCTAssertEqual(config["embeddingLength"] as? Int, 576)
        XCTAssertEqual(config["headCountKV"] as? Int, 3)
        XCTAssertEqual(config["tiedEmbeddings"] as? Bool, true)
        XCTAssertEqual(obj["tensorCount"] as? Int, 272)
        XCTAssertEqual(obj["tensorsByType"] as? [String: Int], ["Q4_1": 210, "F32": 61, "Q8_0": 1])
        XCTAssertEqual(obj["tokenizerModel"] as? String, "gpt2")
        XCTAssertEqual(obj["tokenizerPre"] as? String, "smollm")
        XCTAssertEqual(obj["hasChatTemplate"] as? Bool, true)
        XCTAssertEqual(obj["format"] as? String, "gguf")
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        XCTAssertEqual(obj["fileSize"] as? Int, size)
        let params = try XCTUnwrap(obj["parameterCount"] as? Int)
        XCTAssertTrue((134_000_000 ... 136_000_000).contains(params), "\(params)")
        let bytes = try XCTUnwrap(obj["bytesByType"] as? [String: Int])
        XCTAssertLessThan(bytes.values.reduce(0, +), size ?? 0)
    }

    func testInspectBadFileFailsCleanly() throws {
        let p = NSTemporaryDirectory() + "not-a-model-\(UUID().uuidString).gguf"
        try Data("hello, not gguf".utf8).write(to: URL(fileURLWithPath: p))
        defer { try? FileManager.default.removeItem(atPath: p) }
        let r = try runLorakit(["inspect", p])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("bad magic"), r.stderr)
    }
}
