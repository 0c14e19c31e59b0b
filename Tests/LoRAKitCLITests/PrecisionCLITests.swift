import Foundation
import XCTest

/// `lorakit train/eval --precision …` as a user runs them: bf16 recorded in run_config.json, a resume with
/// another precision refused naming the field, a bad value refused before any work.
final class PrecisionCLITests: XCTestCase {
    func testTrainAndEvalTakePrecision() throws {
        let model = try defaultModelPath()
        let data = repositoryRoot.appendingPathComponent("Examples/data/veloria").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-precision-cli-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let common = ["train", "--model", model, "--data", data, "--batch-size", "1", "--seq-len", "64", "--eval-batches", "1",
                      "--rank", "2", "--threads", "2", "--seed", "3", "--out", out + "/run"]
        let first = try runLorakit(common + ["--steps", "2", "--precision", "bf16", "--fresh"])
        XCTAssertEqual(first.status, 0, first.stderr + first.stdout)
        let config = try String(contentsOfFile: out + "/run/run_config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"precision\" : \"bf16\"") || config.contains("\"precision\":\"bf16\""), config)

        // Continuing the run with fp32 would change its numbers: refused.
        let other = try runLorakit(common + ["--steps", "3", "--precision", "fp32"])
        XCTAssertNotEqual(other.status, 0, other.stdout)
        XCTAssertTrue(other.stderr.contains("precision"), other.stderr)

        let bad = try runLorakit(common + ["--steps", "2", "--precision", "fp8", "--fresh"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("fp8") && bad.stderr.contains("precision"), bad.stderr)

        // No --precision: bf16 where the CPU has AVX512-BF16 (and the active kernels are AVX-512), else fp32;
        // the choice is printed and recorded. A resume without the flag keeps the recorded precision.
        let cpu = try runLorakit(["cpu", "--json"])
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(cpu.stdout.utf8)) as? [String: Any])
        let native = (info["avx512BF16"] as? Bool == true) && (info["activeISA"] as? String == "avx512")
        let expected = native ? "bf16" : "fp32"
        let auto = try runLorakit(common.dropLast() + [out + "/auto", "--steps", "1", "--fresh"])
        XCTAssertEqual(auto.status, 0, auto.stderr + auto.stdout)
        XCTAssertTrue(auto.stdout.contains("precision: \(expected)"), auto.stdout)
        let autoConfig = try String(contentsOfFile: out + "/auto/run_config.json", encoding: .utf8)
        XCTAssertTrue(autoConfig.contains("\"precision\" : \"\(expected)\""), autoConfig)
        let resumed = try runLorakit(common.dropLast() + [out + "/auto", "--steps", "1"])   // the same run: nothing to redo
        XCTAssertEqual(resumed.status, 0, resumed.stderr + resumed.stdout)

        let text = repositoryRoot.appendingPathComponent("Examples/data/veloria/prompts.txt").path
        let e32 = try runLorakit(["eval", "--model", model, "--text", text, "--ctx", "32", "--windows", "2", "--json", "--precision", "fp32"])
        let e16 = try runLorakit(["eval", "--model", model, "--text", text, "--ctx", "32", "--windows", "2", "--json", "--precision", "bf16"])
        XCTAssertEqual(e32.status, 0, e32.stderr)
        XCTAssertEqual(e16.status, 0, e16.stderr)
        func loss(_ s: String) throws -> Double {
            let o = try JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any]
            return try XCTUnwrap(o?["mean_loss"] as? Double)
        }
        let a = try loss(e32.stdout), b = try loss(e16.stdout)
        XCTAssertNotEqual(a, b)
        XCTAssertLessThan(abs(a - b) / a, 1e-2, "eval fp32 \(a) vs bf16 \(b)")
    }
}
