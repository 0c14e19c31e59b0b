import Foundation
import XCTest

/// Done-when test of checkpoints: a `lorakit train` run killed with SIGKILL at random steps (three
/// times) and stopped once with SIGTERM, resumed each time, ends with an adapter bitwise identical to
/// the uninterrupted run (same seed, same threads).
final class ResumeCLITests: XCTestCase {
    var modelPath: String {
        get throws {
            let p = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
                ?? NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf"
            guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("default model absent at \(p); run `make model`") }
            return p
        }
    }

    var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Starts `lorakit` without waiting; output goes to files (a full pipe can never block it).
    func launch(_ args: [String], log: String) throws -> Process { try launchProcess(args, log: log) }

    /// Newest checkpoint step in a folder (0: none).
    func newestCheckpoint(_ folder: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap { n in n.hasPrefix("step-") && n.hasSuffix(".lkckpt") ? Int(n.dropFirst(5).dropLast(7)) : nil }.max() ?? 0
    }

    /// Waits until the run has saved a checkpoint at or past `step` (or has exited); false on timeout.
    func wait(for step: Int, in folder: String, process: Process, timeout: Double = 300) -> Bool {
        let end = Date().addingTimeInterval(timeout)
        while Date() < end {
            if newestCheckpoint(folder) >= step { return true }
            if !process.isRunning { return false }
            usleep(20_000)
        }
        return false
    }

    func testKilledAndResumedRunEqualsUninterruptedBitwise() throws {
        let model = try modelPath
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("lorakit-resume-\(getpid())").path
        try? fm.removeItem(atPath: root)
        try fm.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        defer { try? fm.removeItem(atPath: root) }
        // Training data only (no validation split): the test measures resume, not evaluation.
        try fm.copyItem(atPath: repoRoot.appendingPathComponent("Examples/data/veloria/train.jsonl").path, toPath: root + "/data/train.jsonl")
        let steps = 14   // the SIGTERM below lands at step <= 11, leaving steps to stop in
        func args(_ out: String) -> [String] {
            ["train", "--model", model, "--data", root + "/data", "--out", out, "--steps", "\(steps)", "--batch-size", "2",
             "--seq-len", "32", "--no-mask-prompt", "--rank", "4", "--targets", "q_proj,v_proj", "--threads", "2",
             "--lr", "1e-3", "--save-interval", "1", "--keep-checkpoints", "2", "--plain", "--seed", "7"]
        }

        let t0 = Date()
        let ref = try runLorakit(args(root + "/ref"))
        XCTAssertEqual(ref.status, 0, ref.stdout + ref.stderr)
        let reference = try XCTUnwrap(fm.contents(atPath: root + "/ref/adapter/adapter_model.safetensors"))
        let refSeconds = Date().timeIntervalSince(t0)

        // SIGKILL three times at random steps, then SIGTERM, then run to the end.
        let out = root + "/run", ckpts = out + "/checkpoints"
        var rng = SystemRandomNumberGenerator()
        var killedAt: [Int] = []
        for window in [1...3, 4...6, 7...8] {
            let target = Int.random(in: window, using: &rng)
            let p = try launch(args(out), log: root + "/kill-\(target).log")
            XCTAssertTrue(wait(for: target, in: ckpts, process: p), "run never reached step \(target): " + log(root + "/kill-\(target).log"))
            usleep(UInt32.random(in: 0...1_500_000, using: &rng))   // somewhere inside the next step (or its checkpoint write)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationReason, .uncaughtSignal, log(root + "/kill-\(target).log"))
            killedAt.append(newestCheckpoint(ckpts))
        }
        XCTAssertEqual(killedAt, killedAt.sorted(), "each resumed run continued from the previous checkpoint")

        // Wait for a checkpoint written by *this* process (the last SIGKILL may have landed after step 9 was saved),
        // so the signal arrives while it trains, not while it is still loading.
        let termTarget = min(max(9, newestCheckpoint(ckpts) + 1), steps - 3)
        let p = try launch(args(out), log: root + "/term.log")
        XCTAssertTrue(wait(for: termTarget, in: ckpts, process: p), log(root + "/term.log"))
        kill(p.processIdentifier, SIGTERM)
        p.waitUntilExit()
        let termLog = log(root + "/term.log")
        XCTAssertEqual(p.terminationStatus, 143, termLog)
        XCTAssertTrue(termLog.contains("SIGTERM received"), termLog)
        XCTAssertTrue(termLog.contains("to resume, run the same command again"), termLog)
        XCTAssertTrue(termLog.contains("resuming from "), termLog)
        let stoppedAt = newestCheckpoint(ckpts)
        XCTAssertTrue(stoppedAt >= termTarget && stoppedAt < steps, "SIGTERM stop saved step \(stoppedAt)")

        let last = try runLorakit(args(out))
        XCTAssertEqual(last.status, 0, last.stdout + last.stderr)
        XCTAssertTrue(last.stdout.contains("resuming from \(ckpts)/step-\(String(format: "%06d", stoppedAt)).lkckpt"), last.stdout)
        let resumed = try XCTUnwrap(fm.contents(atPath: out + "/adapter/adapter_model.safetensors"))
        XCTAssertEqual(resumed, reference, "resumed adapter differs from the uninterrupted run's")

        // metrics.jsonl holds each step exactly once, as the uninterrupted run's does.
        let records = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(records.compactMap { $0["step"] as? Int }, Array(1...steps))
        XCTAssertLessThanOrEqual(newestCheckpointCount(ckpts), 2)
        print("resume test: reference run \(String(format: "%.1f", refSeconds)) s, SIGKILL after checkpoints \(killedAt), SIGTERM at \(stoppedAt), total \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }

    func newestCheckpointCount(_ folder: String) -> Int {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".lkckpt") }.count
    }

    func log(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
}
