import Foundation
import XCTest

/// `lorakit budget` (presets, a GGUF header, --json, refusal) and admission control in `lorakit train`.
final class BudgetTests: XCTestCase {
    var modelPath: String { get throws { try defaultModelPath() } }
    var repoRoot: URL { repositoryRoot }

    func testPresetJSONHasExactCountsAndFullFineTune() throws {
        let r = try runLorakit(["budget", "--preset", "llama-3.1-8b", "--quant", "q4_0", "--rank", "16", "--targets",
                                "q_proj,k_proj,v_proj,o_proj", "--seq-len", "2048", "--batch-size", "1", "--threads", "8", "--json"])
        XCTAssertTrue(r.status == 0 || r.status == 1, r.stderr)   // 1: does not fit this machine
        let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(obj["trainableParameters"] as? Int, 13_631_488)
        XCTAssertGreaterThan(obj["fullFineTuneFP32Bytes"] as? Int ?? 0, 128_000_000_000)
        XCTAssertGreaterThan(obj["peakBytes"] as? Int ?? 0, 4_000_000_000)

        let all = try runLorakit(["budget", "--preset", "llama-3.1-8b", "--quant", "q4_0", "--rank", "16", "--targets", "all-linear",
                                  "--seq-len", "2048", "--batch-size", "1", "--json"])
        let o2 = try JSONSerialization.jsonObject(with: Data(all.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(o2["trainableParameters"] as? Int, 41_943_040)
    }

    func testTableFromGGUFHeader() throws {
        let r = try runLorakit(["budget", "--model", try modelPath, "--seq-len", "128", "--batch-size", "2", "--threads", "2",
                                "--max-memory", "64GB"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for s in ["base weights Q4_1", "AdamW m and v", "activations kept for backward", "dequantization tiles",
                  "predicted peak RSS", "fp32 weights+grads+m+v (16 B/param)", "less than full fine-tuning", "fits"] {
            XCTAssertTrue(r.stdout.contains(s), "missing '\(s)' in\n\(r.stdout)")
        }
    }

    func testBudgetRefusesWithSuggestions() throws {
        let r = try runLorakit(["budget", "--preset", "llama-3.2-1b", "--quant", "q8_0", "--seq-len", "2048", "--batch-size", "8",
                                "--targets", "all-linear", "--threads", "4", "--max-memory", "6GB", "--checkpointing", "off"])
        XCTAssertEqual(r.status, 1, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("does NOT fit"), r.stdout)
        XCTAssertTrue(r.stderr.contains("changes that would fit"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--checkpointing on"), r.stderr)
    }

    /// A run whose plan exceeds the (injected) limit is refused before the weights are loaded or the run
    /// folder is created.
    func testTrainRefusesBeforeAllocating() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-refuse-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let data = repoRoot.appendingPathComponent("Examples/data/veloria").path
        let r = try runLorakit(["train", "--model", try modelPath, "--data", data, "--out", out, "--steps", "1",
                                "--seq-len", "1024", "--batch-size", "8", "--threads", "2", "--max-memory", "400MB"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("nothing was allocated"), r.stderr)
        XCTAssertTrue(r.stderr.contains("--seq-len") || r.stderr.contains("--batch-size"), r.stderr)
        XCTAssertTrue(r.stdout.contains("predicted peak RSS"), r.stdout)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "the run folder must not be created")
        XCTAssertFalse(r.stdout.contains("step 1/1"))
    }

    /// --max-memory turns checkpointing on when only that fits, and the run reports predicted vs measured.
    func testTrainMaxMemoryChoosesCheckpointingAndReportsPeak() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-maxmem-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let data = repoRoot.appendingPathComponent("Examples/data/veloria/train.jsonl").path
        let r = try runLorakit(["train", "--model", try modelPath, "--data", data, "--out", out, "--steps", "1",
                                "--seq-len", "256", "--batch-size", "2", "--rank", "4", "--threads", "2", "--max-memory", "450MB", "--plain"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        XCTAssertTrue(r.stdout.contains("note: checkpointing on"), r.stdout)
        XCTAssertTrue(r.stdout.contains("checkpointing on, 2 threads"), r.stdout)
        XCTAssertTrue(r.stdout.contains("peak RSS: predicted"), r.stdout)
        let rec = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/memory.json"))) as! [String: Any]
        let err = rec["errorPercent"] as? Double ?? 100
        XCTAssertLessThan(abs(err), 10, "predicted vs measured peak: \(err)%")
    }
}
