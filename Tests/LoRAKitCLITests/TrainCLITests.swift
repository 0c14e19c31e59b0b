import Foundation
import XCTest

/// `lorakit train` and `lorakit eval` end to end on the default model (a few tiny steps).
final class TrainCLITests: XCTestCase {
    var modelPath: String { get throws { try defaultModelPath() } }
    var repoRoot: URL { repositoryRoot }

    func testTrainWritesAdapterMetricsAndCurve() throws {
        let model = try modelPath
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-train-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let data = repoRoot.appendingPathComponent("Examples/data/veloria").path
        let r = try runLorakit(["train", "--model", model, "--data", data, "--out", out, "--steps", "3", "--batch-size", "2",
                                "--seq-len", "64", "--eval-batches", "2", "--rank", "4", "--threads", "2", "--lr", "1e-3"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        XCTAssertTrue(r.stdout.contains("trainable params: "), r.stdout)
        XCTAssertTrue(r.stdout.contains("step 3/3"), r.stdout)
        for f in ["adapter/adapter_config.json", "adapter/adapter_model.safetensors", "metrics.jsonl", "loss.svg", "run_config.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/" + f), "missing \(f)")
        }
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let records = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(records.filter { $0["type"] as? String == "train" }.count, 3)
        XCTAssertEqual(records.filter { $0["type"] as? String == "eval" }.count, 2)   // before training and at the end
        for r in records { XCTAssertTrue((r["loss"] as? Double)?.isFinite ?? false, "\(r)") }
        let svg = try String(contentsOfFile: out + "/loss.svg", encoding: .utf8)
        XCTAssertTrue(svg.hasPrefix("<svg") && svg.contains("<path"), svg)

        // The adapter evaluates through `lorakit eval`.
        let textFile = out + "/eval.txt"
        try String(repeating: "Veloria has three moons: Pell, Orrin and the small red moon Kest. ", count: 20)
            .write(toFile: textFile, atomically: false, encoding: .utf8)
        let e = try runLorakit(["eval", "--model", model, "--text", textFile, "--ctx", "64", "--windows", "2",
                                "--adapter", out + "/adapter", "--json"])
        XCTAssertEqual(e.status, 0, e.stderr)
        let obj = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(obj["tokens_scored"] as? Int, 126)
        XCTAssertNotNil(obj["perplexity"] as? Double)
        XCTAssertNotNil(obj["mean_loss"] as? Double)
    }

    func testTrainRejectsBadConfigWithClearError() throws {
        let model = try modelPath
        let data = repoRoot.appendingPathComponent("Examples/data/veloria").path
        let r = try runLorakit(["train", "--model", model, "--data", data, "--out", "/tmp/lorakit-never", "--rank", "0"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("rank"), r.stderr)
        let t = try runLorakit(["train", "--model", model, "--data", data, "--out", "/tmp/lorakit-never", "--targets", "qq_proj"])
        XCTAssertNotEqual(t.status, 0)
        XCTAssertTrue(t.stderr.contains("qq_proj"), t.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/lorakit-never/adapter"))
    }

    /// `--quant-aware` reaches the run's configuration, survives a resume without the flag, and its adapter merges
    /// into the Q4_1 base's offsets by default (same type, same file size, all of the change kept).
    func testQuantAwareTrainResumeAndMerge() throws {
        let model = try modelPath
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-qa-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let data = repoRoot.appendingPathComponent("Examples/data/veloria").path
        let common = ["train", "--model", model, "--data", data, "--out", out, "--batch-size", "2", "--seq-len", "64",
                      "--eval-batches", "1", "--rank", "2", "--targets", "q_proj", "--threads", "2", "--lr", "1e-2"]
        let r = try runLorakit(common + ["--steps", "1", "--quant-aware"])
        XCTAssertEqual(r.status, 0, r.stderr + r.stdout)
        XCTAssertTrue(try String(contentsOfFile: out + "/run_config.json", encoding: .utf8).contains("\"quantAware\" : true"))
        let c = try runLorakit(common + ["--steps", "2"])   // continues the quant-aware run
        XCTAssertEqual(c.status, 0, c.stderr + c.stdout)
        XCTAssertTrue(c.stdout.contains("step 2/2"), c.stdout)
        let merged = out + "/merged.gguf"
        let m = try runLorakit(["merge", "--model", model, "--adapter", out + "/adapter", "--out", merged, "--threads", "2"])
        XCTAssertEqual(m.status, 0, m.stderr)
        let lines = m.stdout.split(separator: "\n").filter { $0.hasPrefix("blk.") }
        XCTAssertEqual(lines.count, 30, m.stdout)
        XCTAssertTrue(lines.allSatisfy { $0.contains(" Q4_1 ") && $0.contains("(offsets)") }, m.stdout)
        let size = { (p: String) in (try FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? -1 }
        XCTAssertEqual(try size(merged), try size(model))
    }

    /// `--quant-grid` is refused without `--quant-aware`, and on a base with no Q4_K/Q5_K adapted matrix (Q4_1 here).
    func testQuantGridRefusals() throws {
        let model = try modelPath
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-qg-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let common = ["train", "--model", model, "--data", repoRoot.appendingPathComponent("Examples/data/veloria").path, "--out", out,
                      "--steps", "1", "--batch-size", "1", "--seq-len", "64", "--targets", "q_proj", "--threads", "2"]
        let a = try runLorakit(common + ["--quant-grid"])
        XCTAssertNotEqual(a.status, 0)
        XCTAssertTrue(a.stderr.contains("needs quant-aware LoRA (quantAware)"), a.stderr)
        let b = try runLorakit(common + ["--quant-grid", "--quant-aware"])
        XCTAssertNotEqual(b.status, 0)
        XCTAssertTrue(b.stderr.contains("none of the adapted matrices is Q4_K or Q5_K"), b.stderr)
    }
}
