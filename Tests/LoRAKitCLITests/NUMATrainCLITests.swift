import Foundation
import XCTest

/// `lorakit train --numa …` as a user runs it: the plan line, a bad mode refused before any work.
final class NUMATrainCLITests: XCTestCase {
    func testTrainTakesNUMAModeAndRejectsBadValue() throws {
        let model = try defaultModelPath()
        let data = repositoryRoot.appendingPathComponent("Examples/data/veloria").path
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-numa-cli-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let common = ["train", "--model", model, "--data", data, "--steps", "2", "--batch-size", "1",
                      "--seq-len", "64", "--eval-batches", "1", "--rank", "2", "--threads", "2", "--seed", "3", "--fresh"]
        let off = try runLorakit(common + ["--out", out + "/off", "--numa", "off"])
        XCTAssertEqual(off.status, 0, off.stderr + off.stdout)
        XCTAssertTrue(off.stdout.contains("NUMA: off, 2 workers not pinned"), off.stdout)
        let config = try String(contentsOfFile: out + "/off/run_config.json", encoding: .utf8)
        XCTAssertTrue(config.contains("\"numa\" : \"off\"") || config.contains("\"numa\":\"off\""), config)

        let dist = try runLorakit(common + ["--out", out + "/dist", "--numa", "distribute"])
        XCTAssertEqual(dist.status, 0, dist.stderr + dist.stdout)
        XCTAssertTrue(dist.stdout.contains("NUMA: distribute, "), dist.stdout)
        // Same thread count, same bits.
        let adapter = "/adapter/adapter_model.safetensors"
        let a = try XCTUnwrap(FileManager.default.contents(atPath: out + "/off" + adapter))
        XCTAssertEqual(a, FileManager.default.contents(atPath: out + "/dist" + adapter), "--numa off and distribute differ")

        let bad = try runLorakit(common + ["--out", out + "/bad", "--numa", "everywhere"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("everywhere") && bad.stderr.contains("numa"), bad.stderr)
        XCTAssertFalse(bad.stdout.contains("step 1/1"), bad.stdout)
    }
}
