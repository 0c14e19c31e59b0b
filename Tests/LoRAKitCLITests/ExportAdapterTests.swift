import Foundation
import XCTest

/// `lorakit export-adapter` turns the Python PEFT fixture into a llama.cpp LoRA GGUF.
final class ExportAdapterTests: XCTestCase {
    let adapter = peftFixtureAdapter

    func modelPath() throws -> String { try defaultModelPath() }

    func testExportsFixture() throws {
        let model = try modelPath()
        let out = NSTemporaryDirectory() + "lorakit-export-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try runLorakit(["export-adapter", "--adapter", adapter, "--out", out, "--model", model])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("240 F32 tensors, r=4, adapter.lora.alpha=8.0"), r.stdout)
        let data = try Data(contentsOf: URL(fileURLWithPath: out))
        XCTAssertEqual(Array(data.prefix(4)), Array("GGUF".utf8))
        let half = try runLorakit(["export-adapter", "--adapter", adapter, "--out", out, "--model", model, "--type", "f16"])
        XCTAssertEqual(half.status, 0, half.stderr)
        XCTAssertTrue(half.stdout.contains("240 F16 tensors"), half.stdout)
        XCTAssertLessThan(try Data(contentsOf: URL(fileURLWithPath: out)).count, data.count * 6 / 10)
        let badType = try runLorakit(["export-adapter", "--adapter", adapter, "--out", out, "--model", model, "--type", "q8_0"])
        XCTAssertNotEqual(badType.status, 0)
    }

    func testErrors() throws {
        let out = NSTemporaryDirectory() + "lorakit-export-\(UUID().uuidString).gguf"
        let none = try runLorakit(["export-adapter", "--adapter", "/nonexistent-adapter", "--out", out])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("--model"), none.stderr)
        let model = try modelPath()
        let bad = try runLorakit(["export-adapter", "--adapter", "/nonexistent-adapter", "--out", out, "--model", model])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("not a PEFT adapter folder"), bad.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
