import Foundation
import XCTest

/// `lorakit bench` as a script runs it: JSON out, the options it measures under, bad values refused.
final class BenchCLITests: XCTestCase {
    func testTrainBenchWithCheckpointingPrintsJSON() throws {
        let r = try runLorakit(["bench", "train", "--preset", "smollm2-135m", "--batch", "1", "--seq", "8", "--repeats", "1",
                                "--warmup", "0", "--no-ceiling", "--checkpointing", "on", "--threads", "1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let any = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        let report = try XCTUnwrap(((any as? [[String: Any]])?.first) ?? (any as? [String: Any]))
        XCTAssertGreaterThan(try XCTUnwrap(report["tokensPerSecond"] as? Double), 0)
        XCTAssertGreaterThan(try XCTUnwrap(report["peakRSSBytes"] as? Double), 0)
        let notes = try XCTUnwrap(report["notes"] as? [String: String])
        XCTAssertTrue(notes["checkpointing"]?.hasPrefix("on") == true, "\(notes)")
        XCTAssertEqual(notes["shape"], "batch 1 × seq 8")
    }

    func testBadPrecisionIsRefused() throws {
        let r = try runLorakit(["bench", "train", "--preset", "smollm2-135m", "--precision", "fp8"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--precision"), r.stderr)
    }
}
