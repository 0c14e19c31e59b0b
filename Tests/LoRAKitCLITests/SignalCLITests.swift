import Foundation
import LoRAKit
import XCTest

/// SIGINT during `lorakit train`: the first finishes the step, saves a checkpoint and exits 130 with
/// how to resume; a second exits at once and every checkpoint on disk still reads back intact.
final class SignalCLITests: XCTestCase {
    var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    func setUpRun() throws -> (root: String, args: [String]) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-signal-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        let tok = repoRoot.appendingPathComponent("Tests/Fixtures/tokenizer/smollm2/tokenizer.json").path
        let s = try runLorakit(["synth", "--preset", "smollm2-135m", "--layers", "2", "--quant", "q8_0", "--out", root + "/m.gguf", "--tokenizer", tok])
        XCTAssertEqual(s.status, 0, s.stderr)
        let lines = (0..<16).map { "{\"text\": \"Veloria note \($0): the red moon Kest rises after Pell.\"}" }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: root + "/data/train.jsonl"))
        return (root, ["train", "--model", root + "/m.gguf", "--data", root + "/data", "--out", root + "/run", "--steps", "400",
                       "--batch-size", "1", "--seq-len", "16", "--rank", "4", "--targets", "all-linear", "--threads", "2",
                       "--save-interval", "1", "--plain"])
    }

    func start(_ args: [String], log: String) throws -> Process { try launchProcess(args, log: log) }

    func newestStep(_ dir: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
            .compactMap { $0.hasPrefix("step-") && $0.hasSuffix(".lkckpt") ? Int($0.dropFirst(5).dropLast(7)) : nil }.max() ?? 0
    }

    /// Waits for a checkpoint newer than `after` (training is under way, signal handlers installed).
    func waitForCheckpoint(_ dir: String, _ p: Process, after: Int = 0) {
        let end = Date().addingTimeInterval(120)
        while Date() < end && p.isRunning {
            if newestStep(dir) > after { return }
            usleep(20_000)
        }
    }

    func testFirstSIGINTSavesAndExits130() throws {
        let (root, args) = try setUpRun()
        let p = try start(args, log: root + "/log")
        waitForCheckpoint(root + "/run/checkpoints", p)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        let log = try String(contentsOfFile: root + "/log", encoding: .utf8)
        XCTAssertEqual(p.terminationStatus, 130, log)
        XCTAssertTrue(log.contains("SIGINT received: finishing the current step"), log)
        XCTAssertTrue(log.contains("stopped by SIGINT after step"), log)
        XCTAssertTrue(log.contains("to resume, run the same command again"), log)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root + "/run/adapter/adapter_model.safetensors"))
        var w: [String] = []
        let c = try XCTUnwrap(try CheckpointStore.latest(in: root + "/run", warnings: &w))
        XCTAssertTrue(log.contains("checkpoint saved: \(root)/run/checkpoints/step-\(String(format: "%06d", c.header.step)).lkckpt"), log)
        XCTAssertEqual(w, [])
    }

    func testSecondSIGINTExitsAtOnceLeavingCheckpointsIntact() throws {
        let (root, args) = try setUpRun()
        for round in 0..<3 {
            let before = newestStep(root + "/run/checkpoints")
            let p = try start(args, log: root + "/log\(round)")
            waitForCheckpoint(root + "/run/checkpoints", p, after: before)
            usleep(UInt32(round) * 150_000)
            kill(p.processIdentifier, SIGINT)
            usleep(30_000)
            kill(p.processIdentifier, SIGINT)
            p.waitUntilExit()
            let log = try String(contentsOfFile: root + "/log\(round)", encoding: .utf8)
            XCTAssertEqual(p.terminationStatus, 130, log)
            assertNothingHalfWritten(root + "/run", log: log)
        }
    }

    /// The second SIGINT at many moments of a run that saves every step (so many land inside a save):
    /// never a temporary file or a lock left behind, and the message names the last complete
    /// checkpoint only when there is one.
    func testDoubleSIGINTAtManyDelaysLeavesNoTemporaryFile() throws {
        let (root, baseArgs) = try setUpRun()
        for round in 0..<12 {
            let out = root + "/run\(round)"
            let args = baseArgs.map { $0 == root + "/run" ? out : $0 }
            let p = try start(args, log: root + "/d\(round)")
            if round % 3 == 0 {
                // Before the first checkpoint: while loading or in the first step.
                usleep(UInt32(50_000 + 100_000 * (round / 3)))
            } else {
                waitForCheckpoint(out + "/checkpoints", p)
                usleep(UInt32(7_000 * round))
            }
            kill(p.processIdentifier, SIGINT)
            usleep(UInt32(3_000 * (round % 5)))
            kill(p.processIdentifier, SIGINT)
            p.waitUntilExit()
            let log = try String(contentsOfFile: root + "/d\(round)", encoding: .utf8)
            assertNothingHalfWritten(out, log: log)
            let saved = newestStep(out + "/checkpoints")
            if log.contains("second SIGINT") {
                if saved == 0 {
                    XCTAssertTrue(log.contains("no checkpoint has been saved yet"), log)
                } else {
                    XCTAssertTrue(log.contains("the last complete checkpoint is"), log)
                }
            }
        }
    }

    /// No temporary file or lock anywhere under `dir`, and every checkpoint reads back.
    func assertNothingHalfWritten(_ dir: String, log: String, file: StaticString = #filePath, line: UInt = #line) {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return }
        for case let f as String in e {
            XCTAssertFalse(f.contains(".tmp-"), "temporary file \(f) left; log:\n\(log)", file: file, line: line)
            XCTAssertFalse(f.hasSuffix(".lorakit.lock"), "lock file left; log:\n\(log)", file: file, line: line)
            if f.hasSuffix(".lkckpt") {
                XCTAssertNoThrow(try TrainingCheckpoint.load(path: dir + "/" + f), file: file, line: line)
            }
        }
    }
}
