import Foundation
import XCTest

/// `lorakit merge --calibration`: a quant-aware adapter merged into a Q4_K base in place with the refit weighted by
/// calibration data, on a 1-block SmolLM2-shaped model (random weights, real tokenizer); and its bad input.
final class MergeCalibrationCLITests: XCTestCase {
    func testCalibratedInPlaceMergeAndBadInput() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-mergecal-\(getpid())").path
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let tok = repositoryRoot.appendingPathComponent("Tests/Fixtures/tokenizer/smollm2/tokenizer.json").path
        let s = try runLorakit(["synth", "--preset", "smollm2-135m", "--layers", "1", "--quant", "q8_0", "--out", root + "/m8.gguf", "--tokenizer", tok])
        XCTAssertEqual(s.status, 0, s.stderr)
        let lines = (0..<8).map { "{\"text\": \"Veloria note \($0): the red moon Kest rises after Pell, and the tides follow it.\"}" }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: root + "/data/train.jsonl"))
        try Data().write(to: URL(fileURLWithPath: root + "/empty.jsonl"))
        func train(_ model: String, _ out: String, _ extra: [String]) throws {
            let r = try runLorakit(["train", "--model", model, "--data", root + "/data", "--out", out, "--steps", "1", "--batch-size", "1",
                                    "--seq-len", "16", "--rank", "2", "--targets", "down_proj", "--threads", "2", "--lr", "1e-2",
                                    "--eval-batches", "0", "--plain"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        }
        // A Q4_K base: the plain adapter's down_proj (1536 wide) merged as Q4_K.
        try train(root + "/m8.gguf", root + "/plain", [])
        let base = root + "/k.gguf"
        let k = try runLorakit(["merge", "--model", root + "/m8.gguf", "--adapter", root + "/plain/adapter", "--out", base, "--type", "q4_k", "--threads", "2"])
        XCTAssertEqual(k.status, 0, k.stderr)
        try train(base, root + "/qa", ["--quant-aware"])
        let merged = root + "/merged.gguf"
        let m = try runLorakit(["merge", "--model", base, "--adapter", root + "/qa/adapter", "--out", merged, "--type", "same",
                                "--calibration", root + "/data", "--calibration-sequences", "4", "--threads", "2"])
        XCTAssertEqual(m.status, 0, m.stderr + m.stdout)
        XCTAssertTrue(m.stdout.contains("calibration: 4/4 sequences"), m.stdout)
        XCTAssertTrue(m.stdout.contains("moments of 1 matrices"), m.stdout)
        let blk = m.stdout.split(separator: "\n").filter { $0.hasPrefix("blk.0.ffn_down") }
        XCTAssertEqual(blk.count, 1, m.stdout)
        XCTAssertTrue(blk.allSatisfy { $0.contains(" Q4_K ") && $0.contains("(offsets)") }, m.stdout)
        let size = { (p: String) in (try FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? -1 }
        XCTAssertEqual(try size(merged), try size(base))
        // Bad input: each fails naming the problem and writes nothing.
        func refused(_ adapter: String, _ calibration: String, _ needle: String) throws {
            let out = root + "/bad.gguf"
            let r = try runLorakit(["merge", "--model", base, "--adapter", adapter, "--out", out, "--type", "same",
                                    "--calibration", calibration, "--threads", "2"])
            XCTAssertNotEqual(r.status, 0, r.stdout)
            XCTAssertTrue(r.stderr.contains(needle), "expected '\(needle)' in: \(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        }
        try refused(root + "/qa/adapter", root + "/missing.jsonl", "missing.jsonl")
        try refused(root + "/qa/adapter", root + "/empty.jsonl", "empty.jsonl")
        try refused(root + "/plain/adapter", root + "/data", "not one")
    }
}
