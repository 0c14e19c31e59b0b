import Foundation
import XCTest

/// Data-parallel `lorakit train` under `mpirun`: N ranks with grad-accum k give the adapter of one
/// process with grad-accum k·N, bit for bit (the gradients are summed in global micro-batch order:
/// `GradientReducer`); a rank killed with SIGKILL ends the job within seconds with the last checkpoint
/// intact, and the run resumes (here on another number of ranks) to the same adapter.
final class MPITrainCLITests: XCTestCase {
    /// mpirun from Open MPI (scripts/setup installs openmpi-bin); the test skips only when it is absent.
    func mpirunPath() throws -> String {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") + ["/usr/bin"] {
            let p = "\(dir)/mpirun"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        throw XCTSkip("mpirun is not installed (apt-get install openmpi-bin, or scripts/setup)")
    }

    /// A small run: 16 chat examples, seq 32, rank 2, dropout on (its masks follow the global micro-batch index).
    func setUpRun(_ name: String) throws -> (root: String, args: (_ out: String, _ accum: Int, _ steps: Int) -> [String]) {
        let model = try defaultModelPath()
        let fm = FileManager.default
        let root = fm.temporaryDirectory.appendingPathComponent("lorakit-mpi-\(name)-\(getpid())").path
        try? fm.removeItem(atPath: root)
        try fm.createDirectory(atPath: root + "/data", withIntermediateDirectories: true)
        let lines = try String(contentsOf: repositoryRoot.appendingPathComponent("Examples/data/veloria/train.jsonl"), encoding: .utf8)
            .split(separator: "\n").prefix(16)
        try (lines.joined(separator: "\n") + "\n").write(toFile: root + "/data/train.jsonl", atomically: false, encoding: .utf8)
        return (root, { out, accum, steps in
            ["train", "--model", model, "--data", root + "/data", "--out", out, "--steps", "\(steps)", "--grad-accum", "\(accum)",
             "--batch-size", "1", "--seq-len", "32", "--no-mask-prompt", "--rank", "2", "--targets", "q_proj,v_proj",
             "--dropout", "0.1", "--lr", "1e-2", "--threads", "1", "--precision", "fp32", "--plain", "--seed", "3",
             "--save-interval", "1"]
        })
    }

    /// `mpirun` (as root when we are root, oversubscribed) started without waiting; output to a log file.
    func launchMPI(ranks: Int, _ args: [String], log: String) throws -> Process {
        try launchProcess(["-np", "\(ranks)", "--oversubscribe", "--bind-to", "none",
                           productsDirectory.appendingPathComponent("lorakit").path] + args,
                          log: log, executable: URL(fileURLWithPath: try mpirunPath()),
                          environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_btl": "self,vader"])
    }

    func runMPI(ranks: Int, _ args: [String], log: String) throws -> (status: Int32, log: String) {
        let p = try launchMPI(ranks: ranks, args, log: log)
        p.waitUntilExit()
        return (p.terminationStatus, read(log))
    }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    func adapter(_ out: String) throws -> Data {
        try XCTUnwrap(FileManager.default.contents(atPath: out + "/adapter/adapter_model.safetensors"), "no adapter in \(out)")
    }

    func losses(_ out: String) -> [String] {
        read(out + "/metrics.jsonl").split(separator: "\n").compactMap { line in
            line.range(of: #""loss":[^,}]*"#, options: .regularExpression).map { String(line[$0]) }
        }
    }

    func testRanksEqualOneProcessWithGradAccumTimesRanks() throws {
        _ = try mpirunPath()
        let (root, args) = try setUpRun("equal")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let t0 = Date()
        let one = try runLorakit(args(root + "/one", 4, 2))
        XCTAssertEqual(one.status, 0, one.stdout + one.stderr)
        let reference = try adapter(root + "/one")
        for (ranks, accum) in [(2, 2), (4, 1)] {
            let out = root + "/np\(ranks)"
            let r = try runMPI(ranks: ranks, args(out, accum, 2), log: root + "/np\(ranks).log")
            XCTAssertEqual(r.status, 0, r.log)
            XCTAssertTrue(r.log.contains("data parallel: \(ranks) ranks,"), r.log)
            XCTAssertTrue(r.log.contains("global batch 4 sequences × 32 tokens"), r.log)
            XCTAssertEqual(try adapter(out), reference, "\(ranks) ranks × grad-accum \(accum) differ from 1 process × grad-accum 4")
            XCTAssertEqual(losses(out), losses(root + "/one"), "rank 0 reports the global loss")
            // Only rank 0 writes into --out: one metrics record per step, the usual files and nothing else.
            XCTAssertEqual(losses(out).count, 2)
            let files = Set((try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [])
            XCTAssertEqual(files, ["adapter", "checkpoints", "loss.svg", "memory.json", "metrics.jsonl", "run_config.json"])
        }
        print("mpi equality test: \(String(format: "%.1f", Date().timeIntervalSince(t0))) s")
    }

    func testKilledRankStopsJobAndRunResumes() throws {
        _ = try mpirunPath()
        let (root, args) = try setUpRun("kill")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let steps = 4, out = root + "/run", ckpts = out + "/checkpoints"
        let p = try launchMPI(ranks: 2, args(out, 1, steps), log: root + "/killed.log")
        // Wait for the checkpoint of step 2, then kill rank 1 in the middle of step 3.
        let deadline = Date().addingTimeInterval(240)
        while newestCheckpoint(ckpts) < 2 && p.isRunning && Date() < deadline { usleep(50_000) }
        XCTAssertTrue(p.isRunning && newestCheckpoint(ckpts) >= 2, "the job never reached step 2: " + read(root + "/killed.log"))
        usleep(300_000)
        let victim = try XCTUnwrap(rankProcess(1, of: p.processIdentifier), "no rank 1 under mpirun: " + read(root + "/killed.log"))
        let killedAt = Date()
        kill(victim, SIGKILL)
        let end = Date().addingTimeInterval(30)
        while p.isRunning && Date() < end { usleep(50_000) }
        let seconds = Date().timeIntervalSince(killedAt)
        if p.isRunning { p.terminate() }
        p.waitUntilExit()
        XCTAssertLessThan(seconds, 10, "the job went on \(seconds) s after rank 1 died: " + read(root + "/killed.log"))
        XCTAssertNotEqual(p.terminationStatus, 0)
        let saved = newestCheckpoint(ckpts)
        XCTAssertTrue(saved >= 2 && saved < steps, "checkpoint \(saved)")

        // Resume on ONE process with grad-accum 2: the same 2 micro-batches per step, so the same numbers.
        let resumed = try runLorakit(args(out, 2, steps))
        XCTAssertEqual(resumed.status, 0, resumed.stdout + resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming from \(ckpts)/step-\(String(format: "%06d", saved)).lkckpt"), resumed.stdout)
        XCTAssertTrue(resumed.stdout.contains("the checkpoint ran on 2 rank(s) × grad-accum 1, now 1 × 2"), resumed.stdout)
        XCTAssertEqual(losses(out).count, steps)
        let reference = try runLorakit(args(root + "/ref", 2, steps))
        XCTAssertEqual(reference.status, 0, reference.stdout + reference.stderr)
        XCTAssertEqual(try adapter(out), try adapter(root + "/ref"), "killed and resumed run differs from the uninterrupted one")
        print("mpi kill test: job ended \(String(format: "%.2f", seconds)) s after SIGKILL of rank 1; resumed from step \(saved)")
    }

    func newestCheckpoint(_ folder: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap { n in n.hasPrefix("step-") && n.hasSuffix(".lkckpt") ? Int(n.dropFirst(5).dropLast(7)) : nil }.max() ?? 0
    }

    /// The pid of rank `rank` among the descendants of `launcher` (its environment names the rank).
    func rankProcess(_ rank: Int, of launcher: Int32) -> Int32? {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        func parent(_ pid: Int32) -> Int32? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.range(of: ")", options: .backwards) else { return nil }
            return stat[close.upperBound...].split(separator: " ").dropFirst(1).first.flatMap { Int32($0) }
        }
        func descends(_ pid: Int32) -> Bool {
            var p: Int32? = pid
            for _ in 0..<8 { guard let q = p.flatMap(parent) else { return false }; if q == launcher { return true }; p = q }
            return false
        }
        for pid in pids where descends(pid) {
            guard let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
            let vars = env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if vars.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }
}
