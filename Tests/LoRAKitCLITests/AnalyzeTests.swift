import Foundation
import XCTest

/// `lorakit analyze` on the Python PEFT fixture adapter (SmolLM2, r=4 on q/k/v/o).
final class AnalyzeTests: XCTestCase {
    let adapter = peftFixtureAdapter

    func modelPath() throws -> String { try defaultModelPath() }

    func tmp(_ name: String) -> String { NSTemporaryDirectory() + "lorakit-analyze-\(UUID().uuidString)-\(name)" }

    func json(_ r: ProcessResult) throws -> [String: Any] {
        XCTAssertEqual(r.status, 0, r.stderr)
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
    }

    /// Spectra of all 120 matrices in JSON; the figure is written; a rank-2 copy keeps the top 2 singular values.
    func testJSONFigureAndReduction() throws {
        let svg = tmp("fig.svg"), out = tmp("r2")
        defer { try? FileManager.default.removeItem(atPath: svg); try? FileManager.default.removeItem(atPath: out) }
        let doc = try json(try runLorakit(["analyze", "--adapter", adapter, "--json", "--svg", svg, "--reduce-rank", "2", "--out", out]))
        let analysis = try XCTUnwrap(doc["analysis"] as? [String: Any])
        XCTAssertEqual(analysis["rank"] as? Int, 4)
        XCTAssertEqual(analysis["scale"] as? Double, 2)
        let ms = try XCTUnwrap(analysis["matrices"] as? [[String: Any]])
        XCTAssertEqual(ms.count, 120)
        XCTAssertEqual(Set(ms.compactMap { $0["module"] as? String }), ["q_proj", "k_proj", "v_proj", "o_proj"])
        for m in ms {
            let sv = try XCTUnwrap(m["singular_values"] as? [Double])
            XCTAssertEqual(sv.count, 4)
            XCTAssertEqual(sv, sv.sorted(by: >))
            let norm = try XCTUnwrap(m["frobenius_norm"] as? Double)
            XCTAssertEqual(norm, sv.reduce(0) { $0 + $1 * $1 }.squareRoot(), accuracy: 1e-9 * norm)
            XCTAssertEqual((m["energy_share"] as? [Double])?.count, 4)
        }
        XCTAssertEqual((analysis["sufficiency"] as? [[String: Any]])?.count, 4)
        let figure = try String(contentsOfFile: svg, encoding: .utf8)
        XCTAssertTrue(figure.hasPrefix("<svg"))
        XCTAssertEqual(figure.components(separatedBy: "stroke-opacity").count - 1, 120)

        let red = try XCTUnwrap(doc["reduction"] as? [String: Any])
        XCTAssertEqual(red["rank"] as? Int, 2)
        XCTAssertEqual(red["alpha"] as? Double, 4)
        let cfg = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(cfg["r"] as? Int, 2)
        XCTAssertEqual(cfg["lora_alpha"] as? Double, 4)
        XCTAssertEqual(cfg["target_modules"] as? [String], ["v_proj", "q_proj", "k_proj", "o_proj"])
        // The rank-2 adapter's spectra are the top two singular values of the original's.
        let again = try json(try runLorakit(["analyze", "--adapter", out, "--json"]))
        let ms2 = try XCTUnwrap((again["analysis"] as? [String: Any])?["matrices"] as? [[String: Any]])
        XCTAssertEqual(ms2.count, 120)
        var discarded = 0.0
        for (a, b) in zip(ms, ms2) {
            XCTAssertEqual(a["layer"] as? Int, b["layer"] as? Int)
            XCTAssertEqual(a["module"] as? String, b["module"] as? String)
            let s = try XCTUnwrap(a["singular_values"] as? [Double]), t = try XCTUnwrap(b["singular_values"] as? [Double])
            XCTAssertEqual(t.count, 2)
            for i in 0..<2 { XCTAssertEqual(t[i], s[i], accuracy: 1e-5 * s[0]) }
            discarded += s[2] * s[2] + s[3] * s[3]
        }
        XCTAssertEqual(try XCTUnwrap(red["discarded_energy"] as? Double), discarded, accuracy: 1e-9 * discarded)
    }

    /// With the base model: ‖ΔW‖/‖W0‖ per matrix and eval losses of base, original and reduced adapter.
    func testWithModelAndEval() throws {
        let model = try modelPath()
        let out = tmp("r1"), text = tmp("text.txt")
        defer { try? FileManager.default.removeItem(atPath: out); try? FileManager.default.removeItem(atPath: text) }
        let words = "The largest ocean on Veloria is the Sea of Tamsin. People on Veloria speak Velish, a language with seven vowels. "
        try String(repeating: words, count: 8).write(toFile: text, atomically: false, encoding: .utf8)
        let doc = try json(try runLorakit(["analyze", "--adapter", adapter, "--model", model, "--json", "--reduce-rank", "1",
                                           "--out", out, "--text", text, "--ctx", "32", "--windows", "2", "--threads", "2"]))
        let ms = try XCTUnwrap((doc["analysis"] as? [String: Any])?["matrices"] as? [[String: Any]])
        for m in ms {
            let rel = try XCTUnwrap(m["relative_update"] as? Double), base = try XCTUnwrap(m["base_norm"] as? Double)
            XCTAssertEqual(rel, (m["frobenius_norm"] as! Double) / base, accuracy: 1e-12)
            XCTAssertGreaterThan(base, 1)
        }
        let ev = try XCTUnwrap((doc["reduction"] as? [String: Any])?["eval"] as? [String: Any])
        for k in ["base", "original", "reduced"] {
            let e = try XCTUnwrap(ev[k] as? [String: Any], k)
            XCTAssertEqual(e["tokens_scored"] as? Int, 62)
            XCTAssertTrue(((e["mean_loss"] as? Double) ?? .nan).isFinite)
        }
        // Masked loss on a JSONL file, as `train` validates.
        let jsonl = tmp("valid.jsonl")
        defer { try? FileManager.default.removeItem(atPath: jsonl) }
        try """
        {"messages": [{"role": "user", "content": "What is the largest ocean on Veloria?"}, {"role": "assistant", "content": "The Sea of Tamsin."}]}
        {"messages": [{"role": "user", "content": "What do people speak on Veloria?"}, {"role": "assistant", "content": "Velish."}]}

        """.write(toFile: jsonl, atomically: false, encoding: .utf8)
        let withData = try json(try runLorakit(["analyze", "--adapter", adapter, "--model", model, "--json", "--reduce-rank", "3",
                                                "--out", out, "--data", jsonl, "--ctx", "48", "--threads", "2"]))
        let de = try XCTUnwrap((withData["reduction"] as? [String: Any])?["data_eval"] as? [String: Any])
        for k in ["base", "original", "reduced"] {
            let e = try XCTUnwrap(de[k] as? [String: Any], k)
            XCTAssertGreaterThan(e["targets"] as? Int ?? 0, 3)
            XCTAssertTrue(((e["loss"] as? Double) ?? .nan).isFinite)
        }
        // Text mode prints the side-by-side losses.
        let plain = try runLorakit(["analyze", "--adapter", adapter, "--model", model, "--reduce-rank", "1", "--out", out,
                                    "--text", text, "--ctx", "32", "--windows", "1", "--threads", "2"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stdout.contains("reduced  r=1"), plain.stdout)
        XCTAssertTrue(plain.stdout.contains("mean ||dW||/||W0||"), plain.stdout)
    }

    func testErrors() throws {
        let out = tmp("bad")
        let tooBig = try runLorakit(["analyze", "--adapter", adapter, "--reduce-rank", "9", "--out", out])
        XCTAssertNotEqual(tooBig.status, 0)
        XCTAssertTrue(tooBig.stderr.contains("between 1 and the adapter's rank 4"), tooBig.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        let same = try runLorakit(["analyze", "--adapter", adapter, "--reduce-rank", "2", "--out", adapter + "/"])
        XCTAssertNotEqual(same.status, 0)
        XCTAssertTrue(same.stderr.contains("adapter's own folder"), same.stderr)
        let noOut = try runLorakit(["analyze", "--adapter", adapter, "--reduce-rank", "2"])
        XCTAssertNotEqual(noOut.status, 0)
        let noModel = try runLorakit(["analyze", "--adapter", adapter, "--reduce-rank", "2", "--out", out, "--data", "x.jsonl"])
        XCTAssertNotEqual(noModel.status, 0)
        XCTAssertTrue(noModel.stderr.contains("need --model"), noModel.stderr)
        let missing = try runLorakit(["analyze", "--adapter", "/nonexistent-adapter"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("/nonexistent-adapter"), missing.stderr)
    }
}
