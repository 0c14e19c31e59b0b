import Foundation
import XCTest

/// `lorakit combine` and `eval --stack`: ½A + ½A stacked is A itself, through the binary.
final class CombineCLITests: XCTestCase {
    func testStackAndCombineOfHalvesEqualTheAdapter() throws {
        let m = try defaultModelPath()
        let adapter = repositoryRoot.appendingPathComponent("Tests/Fixtures/peft/adapter").path
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-combine-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let text = root + "/t.txt"
        try String(repeating: "The red moon Kest rises after Pell, and the tides of Veloria follow it. ", count: 20)
            .write(toFile: text, atomically: false, encoding: .utf8)
        func loss(_ extra: [String]) throws -> Double {
            let r = try runLorakit(["eval", "--model", m, "--text", text, "--ctx", "32", "--windows", "2", "--json", "--precision", "fp32",
                                    "--threads", "1"] + extra)
            XCTAssertEqual(r.status, 0, r.stderr)
            let obj = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any]
            return try XCTUnwrap(obj?["mean_loss"] as? Double)
        }
        let base = try loss([]), one = try loss(["--adapter", adapter])
        let stacked = try loss(["--stack", adapter + ":0.5", "--stack", adapter + ":0.5"])
        XCTAssertNotEqual(base, one)
        XCTAssertEqual(stacked, one, accuracy: 1e-5 * abs(one))
        let c = try runLorakit(["combine", "--adapter", adapter, "--adapter", adapter, "--weights", "0.5,0.5", "--method", "cat",
                                "--out", root + "/both"])
        XCTAssertEqual(c.status, 0, c.stderr)
        XCTAssertTrue(c.stdout.contains("rank"), c.stdout)
        XCTAssertEqual(try loss(["--adapter", root + "/both"]), one, accuracy: 1e-5 * abs(one))
        let bad = try runLorakit(["combine", "--adapter", adapter, "--weights", "1,2", "--out", root + "/x"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--weights has 2 values for 1 adapters"), bad.stderr)
    }
}
