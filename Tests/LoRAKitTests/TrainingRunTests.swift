import Foundation
import XCTest
@testable import LoRAKit

/// The library's training run: settings resolution, strict configuration files, the output lock,
/// and a stop that comes during the last step.
final class TrainingRunTests: XCTestCase {
    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-run-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func testResolutionOrderDefaultsThenFileThenOverrides() throws {
        let d = try tempDir()
        try #"{"batchSize": 3, "lora": {"rank": 5, "targets": ["q_proj", "k_proj"]}, "optimizer": {"weightDecay": 0.5}, "steps": null}"#
            .write(toFile: d + "/c.json", atomically: false, encoding: .utf8)
        var base = TrainingConfig.runDefaults
        base.sequenceLength = 99
        base.steps = 7
        var o = TrainingOverrides()
        o.rank = 6
        o.precision = .fp32
        let c = try TrainingConfig.resolve(base: base, file: d + "/c.json", overrides: o)
        XCTAssertEqual(c.batchSize, 3)                    // from the file
        XCTAssertEqual(c.sequenceLength, 99)              // kept from the base (absent in the file)
        XCTAssertEqual(c.lora.rank, 6)                    // the override wins
        XCTAssertEqual(c.lora.targets, [.q_proj, .k_proj])
        XCTAssertEqual(c.lora.alpha, base.lora.alpha)
        XCTAssertEqual(c.optimizer.weightDecay, 0.5)
        XCTAssertEqual(c.optimizer.beta1, base.optimizer.beta1)
        XCTAssertNil(c.steps)                             // null in the file clears it
        XCTAssertEqual(c.saveInterval, 25)
        XCTAssertEqual(c.precision, .fp32)
    }

    func testConfigFileErrorsNameTheField() throws {
        let d = try tempDir()
        func load(_ json: String) -> ConfigFileError? {
            try? json.write(toFile: d + "/c.json", atomically: false, encoding: .utf8)
            do { _ = try TrainingConfig.load(file: d + "/c.json", over: TrainingConfig()); return nil } catch {
                return error as? ConfigFileError
            }
        }
        XCTAssertEqual(load(#"{"seq-len": 8}"#), .unknownKeys(d + "/c.json", [.init(key: "seq-len", suggestion: "sequenceLength")]))
        XCTAssertEqual(load(#"{"rank": 8}"#), .unknownKeys(d + "/c.json", [.init(key: "rank", suggestion: "lora.rank")]))
        XCTAssertEqual(load(#"{"batchSzie": 8}"#), .unknownKeys(d + "/c.json", [.init(key: "batchSzie", suggestion: "batchSize")]))
        XCTAssertEqual(load(#"{"zzzzzzzzzzzz": 8}"#), .unknownKeys(d + "/c.json", [.init(key: "zzzzzzzzzzzz", suggestion: nil)]))
        XCTAssertEqual(load(#"{"lora": {"rank": 4.5}}"#), .wrongType(d + "/c.json", field: "lora.rank", expected: "an integer", got: "4.5"))
        XCTAssertEqual(load(#"{"seed": -1}"#), .wrongType(d + "/c.json", field: "seed", expected: "a non-negative integer", got: "-1"))
        XCTAssertEqual(load(#"{"threads": "4"}"#), .wrongType(d + "/c.json", field: "threads", expected: "an integer or null", got: "\"4\""))
        XCTAssertEqual(load(#"{"lora": 3}"#), .wrongType(d + "/c.json", field: "lora", expected: "an object {…}", got: "3"))
        if case .invalidJSON? = load(#"{"batchSize": 8"#) {} else { XCTFail("truncated JSON accepted") }
        if case .invalidJSON? = load("[1]") {} else { XCTFail("a list accepted") }
        XCTAssertNil(load(#"{"precision": "auto", "lora": {"targets": "all-linear"}, "learningRate": 1}"#))
    }

    func testLockIsExclusiveAndReleased() throws {
        let d = try tempDir()
        let a = try RunLock(folder: d)
        XCTAssertThrowsError(try RunLock(folder: d)) { e in
            XCTAssertTrue("\(e)".contains("in use by another training run (process \(getpid())"), "\(e)")
        }
        a.release()
        let b = try RunLock(folder: d)
        XCTAssertNil(b.tookOverNote)
        b.release()
        XCTAssertFalse(FileManager.default.fileExists(atPath: d + "/.lorakit.lock"))
    }

    /// A stop requested during the last step (or the final save) leaves a finished run finished.
    func testStopDuringTheLastStepStillFinishes() throws {
        let path = try GoldenFixture.smolLM2Path()
        let d = try tempDir()
        try Data((0..<8).map { "{\"text\": \"Veloria note \($0): the red moon Kest rises after Pell.\"}" }.joined(separator: "\n").utf8)
            .write(to: URL(fileURLWithPath: d + "/train.jsonl"))
        var o = TrainingOverrides()
        o.steps = 2; o.batchSize = 1; o.sequenceLength = 16; o.rank = 2; o.threads = 1; o.precision = .fp32
        let run = TrainingRun(TrainingRunRequest(model: path, data: d + "/train.jsonl", output: d + "/run", overrides: o))
        let r = try run.run { event in
            if case .training(.step(let m)) = event, m.step == 2 { run.stopRequest.request(reason: "SIGINT") }
            return .proceed
        }
        XCTAssertTrue(r.finished)
        XCTAssertNil(r.stopReason)
        XCTAssertEqual(r.step, 2)
        XCTAssertNotNil(r.lastCheckpointPath)
        // A stop in an earlier step ends the run there, saved, and says why.
        let early = TrainingRun(TrainingRunRequest(model: path, data: d + "/train.jsonl", output: d + "/run2",
                                                   overrides: { var x = o; x.steps = 5; return x }()))
        let e = try early.run { event in
            if case .training(.step(let m)) = event, m.step == 1 { early.stopRequest.request(reason: "the scheduler") }
            return .proceed
        }
        XCTAssertFalse(e.finished)
        XCTAssertEqual(e.stopReason, "the scheduler")
        XCTAssertEqual(e.step, 1)
        XCTAssertTrue(FileManager.default.fileExists(atPath: e.adapterPath + "/adapter_model.safetensors"))
    }
}
