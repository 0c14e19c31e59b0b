import Foundation
import LoRAKit
import XCTest

/// What a careless or hurried user does, through the binary: nothing they saved is lost, and every
/// mistake is named.
final class CarelessUserCLITests: XCTestCase {
    func tempDir(_ tag: String) throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-careless-\(tag)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func data(_ root: String, lines: Int = 8) throws -> String {
        let d = root + "/data"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let text = (0..<lines).map { "{\"text\": \"Veloria note \($0): the red moon Kest rises after Pell, and the tides follow it.\"}" }
        try Data(text.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: d + "/train.jsonl"))
        return d
    }

    /// A 2-layer model of SmolLM2's shapes with its tokenizer (fast to load and train).
    func smallModel(_ root: String) throws -> String {
        let tok = repositoryRoot.appendingPathComponent("Tests/Fixtures/tokenizer/smollm2/tokenizer.json").path
        let s = try runLorakit(["synth", "--preset", "smollm2-135m", "--layers", "2", "--quant", "q8_0", "--out", root + "/m.gguf", "--tokenizer", tok])
        XCTAssertEqual(s.status, 0, s.stderr)
        return root + "/m.gguf"
    }

    func checksum(_ path: String) throws -> UInt64 {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in d { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }

    func trainArgs(_ m: String, _ data: String, _ out: String, _ extra: [String] = []) -> [String] {
        ["train", "--model", m, "--data", data, "--out", out]
            + withDefaults(extra, ["--steps": "2", "--batch-size": "1", "--seq-len": "16", "--rank": "2", "--threads": "1"]) + ["--plain"]
    }

    // MARK: outputs that are inputs

    func testMergeRefusesToOverwriteItsInputs() throws {
        let root = try tempDir("merge")
        let m = try smallModel(root)
        let d = try data(root)
        XCTAssertEqual(try runLorakit(trainArgs(m, d, root + "/run")).status, 0)
        let before = try checksum(m)
        try FileManager.default.linkItem(atPath: m, toPath: root + "/hard.gguf")
        try FileManager.default.createSymbolicLink(atPath: root + "/sym.gguf", withDestinationPath: m)
        for out in [m, root + "/hard.gguf", root + "/sym.gguf", root + "/./m.gguf"] {
            let r = try runLorakit(["merge", "--model", m, "--adapter", root + "/run/adapter", "--out", out])
            XCTAssertNotEqual(r.status, 0, out)
            XCTAssertTrue(r.stderr.contains("refusing to write") && r.stderr.contains("overwritten"), r.stderr)
            XCTAssertEqual(try checksum(m), before, "the base model changed after a refused merge to \(out)")
        }
        // The adapter folder as the output of an HF merge, and the adapter file as the export target.
        let hf = try runLorakit(["merge", "--model", m, "--adapter", root + "/run/adapter", "--out", root + "/run/adapter", "--format", "hf"])
        XCTAssertNotEqual(hf.status, 0)
        let ex = try runLorakit(["export-adapter", "--adapter", root + "/run/adapter", "--model", m,
                                 "--out", root + "/run/adapter/adapter_model.safetensors"])
        XCTAssertNotEqual(ex.status, 0)
        XCTAssertTrue(ex.stderr.contains("refusing to write"), ex.stderr)
        XCTAssertNoThrow(try LoRAParameters.loadPEFT(from: root + "/run/adapter", model: ModelWeights.load(path: m).config))
        // Several adapters: refused (merge folds one), not "only the last one merged".
        let two = try runLorakit(["merge", "--model", m, "--adapter", root + "/run/adapter", "--adapter", root + "/run/adapter",
                                  "--out", root + "/merged.gguf"])
        XCTAssertNotEqual(two.status, 0)
        XCTAssertTrue(two.stderr.contains("--adapter is given more than once"), two.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/merged.gguf"))
    }

    // MARK: one run per output folder

    func testSecondRunIntoTheSameFolderIsRefusedWhileTheFirstFinishesIntact() throws {
        let root = try tempDir("lock")
        let m = try smallModel(root)
        let d = try data(root, lines: 32)
        let out = root + "/run"
        let first = Process()
        first.executableURL = productsDirectory.appendingPathComponent("lorakit")
        first.arguments = trainArgs(m, d, out, ["--steps", "40", "--save-interval", "5"])
        let log = root + "/first.log"
        FileManager.default.createFile(atPath: log, contents: nil)
        first.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        first.standardError = first.standardOutput
        try first.run()
        let end = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: out + "/metrics.jsonl") && Date() < end && first.isRunning { usleep(10_000) }
        let second = try runLorakit(trainArgs(m, d, out, ["--steps", "3", "--fresh"]))
        first.waitUntilExit()
        let firstLog = try String(contentsOfFile: log, encoding: .utf8)
        XCTAssertEqual(first.terminationStatus, 0, firstLog)
        XCTAssertNotEqual(second.status, 0, second.stdout)
        XCTAssertTrue(second.stderr.contains("is in use by another training run (process \(first.processIdentifier)"), second.stderr)
        // The first run's folder is its own: 40 train records, its config, its adapter, no lock left.
        let metrics = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").filter { $0.contains("\"train\"") }.count, 40)
        let cfg = try String(contentsOfFile: out + "/run_config.json", encoding: .utf8)
        XCTAssertTrue(cfg.contains("\"steps\" : 40"), cfg)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/adapter/adapter_model.safetensors"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/.lorakit.lock"))
        // After the first run, the folder is free again (and a stale lock of a dead process is taken over).
        try Data("pid 999999\nstarted yesterday\n".utf8).write(to: URL(fileURLWithPath: out + "/.lorakit.lock"))
        let third = try runLorakit(trainArgs(m, d, out, ["--steps", "41"]))
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertTrue(third.stdout.contains("took over the lock") && third.stdout.contains("999999"), third.stdout)
    }

    // MARK: configuration files

    func testConfigFileUnknownKeysAndWrongTypesAreNamed() throws {
        let root = try tempDir("config")
        let m = try defaultModelPath()
        let d = try data(root)
        func run(_ json: String) throws -> ProcessResult {
            try json.write(toFile: root + "/run.json", atomically: false, encoding: .utf8)
            return try runLorakit(trainArgs(m, d, root + "/out", ["--config", root + "/run.json"]))
        }
        let cli = try run(#"{"batch-size": 2, "seq-len": 32, "lr": 0.001}"#)
        XCTAssertNotEqual(cli.status, 0)
        for n in ["'batch-size' (did you mean 'batchSize'?)", "'seq-len' (did you mean 'sequenceLength'?)", "'lr' (did you mean 'learningRate'?)"] {
            XCTAssertTrue(cli.stderr.contains(n), "expected \(n) in \(cli.stderr)")
        }
        let typo = try run(#"{"lora": {"rnak": 4}}"#)
        XCTAssertTrue(typo.stderr.contains("'lora.rnak' (did you mean 'lora.rank'?)"), typo.stderr)
        let rank = try run(#"{"lora": {"rank": 4.5}}"#)
        XCTAssertTrue(rank.stderr.contains("'lora.rank' must be an integer (got 4.5)"), rank.stderr)
        let flag = try run(#"{"packing": "yes"}"#)
        XCTAssertTrue(flag.stderr.contains("'packing' must be true or false (got \"yes\")"), flag.stderr)
        let sched = try run(#"{"schedule": "cosin"}"#)
        XCTAssertTrue(sched.stderr.contains("'schedule' must be one of \"constant\", \"linear\", \"cosine\""), sched.stderr)
        for r in [cli, typo, rank, flag, sched] { XCTAssertNotEqual(r.status, 0) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/out"), "a refused run left its output folder")
        // A correct file is used, flags override it.
        let ok = try run(#"{"lora": {"rank": 3, "targets": "all-linear"}, "learningRate": 0.001, "precision": "fp32"}"#)
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let written = try TrainingConfig.load(file: root + "/out/run_config.json", over: TrainingConfig())
        XCTAssertEqual(written.lora.rank, 2)              // --rank 2 from the command line wins
        XCTAssertEqual(written.lora.targets.count, 7)
        XCTAssertEqual(written.learningRate, 0.001)
    }

    // MARK: the command line itself

    func testRepeatedOptionsNegativeNumbersAndThreads() throws {
        let root = try tempDir("args")
        let m = try defaultModelPath()
        let d = try data(root)
        let twice = try runLorakit(["train", "--model", m, "--model", m, "--data", d, "--out", root + "/o"])
        XCTAssertNotEqual(twice.status, 0)
        XCTAssertTrue(twice.stderr.contains("--model is given more than once"), twice.stderr)
        let steps = try runLorakit(trainArgs(m, d, root + "/o", ["--steps", "3", "--steps=1"]))
        XCTAssertTrue(steps.stderr.contains("--steps is given more than once"), steps.stderr)
        let lr = try runLorakit(trainArgs(m, d, root + "/o", ["--lr", "-1"]))
        XCTAssertNotEqual(lr.status, 0)
        XCTAssertTrue(lr.stderr.contains("learning rate must be positive (got -1.0)"), lr.stderr)
        let rank = try runLorakit(trainArgs(m, d, root + "/o", ["--rank", "1000", "--targets", "q_proj,v_proj,down_proj"]))
        XCTAssertTrue(rank.stderr.contains("LoRA rank 1000 is larger than v_proj's dimensions (192×576), the smallest of the targets; use a rank ≤ 192"),
                      rank.stderr)
        for r in [steps, rank] { XCTAssertNotEqual(r.status, 0) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/o"), "a refused run left an empty output folder")
        let many = try runLorakit(trainArgs(m, d, root + "/o", ["--steps", "1", "--threads", "64"]))
        XCTAssertEqual(many.status, 0, many.stderr)
        XCTAssertTrue(many.stderr.contains("warning: 64 threads but only"), many.stderr)
    }

    /// Every subcommand speaks the same option names (checked on `--help`).
    func testSharedOptionNamesInEveryCommand() throws {
        let expect: [String: [String]] = [
            "train": ["--model", "--threads", "--precision", "--batch-size", "--seq-len", "--checkpointing <checkpointing>", "--chat-template", "--quant", "all-linear"],
            "budget": ["--model", "--threads", "--precision", "--batch-size", "--seq-len", "--checkpointing <checkpointing>", "--quant", "all-linear"],
            "eval": ["--model", "--threads", "--precision", "--quant"],
            "bench": ["--model", "--threads", "--precision", "--batch-size", "--seq-len", "--checkpointing <checkpointing>", "--quant", "all-linear"],
            "generate": ["--model", "--threads", "--chat-template", "--quant"],
            "merge": ["--model", "--threads"],
            "inspect": ["--model"],
            "analyze": ["--model", "--threads"],
            "topology": ["--model", "--threads"],
            "tokenize": ["--model"],
        ]
        for (cmd, names) in expect {
            let h = try runLorakit([cmd, "--help"])
            XCTAssertEqual(h.status, 0, cmd)
            let text = h.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")   // help text is wrapped
            for n in names { XCTAssertTrue(text.contains(n), "\(cmd) --help lacks \(n)") }
            if text.contains("--precision") { XCTAssertTrue(text.contains("auto (default"), "\(cmd): precision default") }
            if text.contains("--threads") { XCTAssertTrue(text.contains("one per CPU this process may use"), "\(cmd): threads") }
        }
    }

    // MARK: budget = train

    func testBudgetPrintsTheSamePredictionAsTrain() throws {
        let root = try tempDir("budget")
        let m = try defaultModelPath()
        let d = try data(root)
        let configs: [[String]] = [
            [],
            ["--precision", "fp32"],
            ["--checkpointing", "on", "--rank", "8", "--targets", "all-linear"],
            ["--batch-size", "2", "--seq-len", "64", "--threads", "2", "--dropout", "0.1"],
            ["--seq-len", "128", "--rank", "16", "--targets", "q_proj,k_proj,v_proj,o_proj", "--precision", "bf16"],
        ]
        func table(_ out: String) -> String {
            let lines = out.split(separator: "\n", omittingEmptySubsequences: false)
            guard let end = lines.firstIndex(where: { $0.hasPrefix("available") }) else { return "" }
            return lines[..<end].joined(separator: "\n")
        }
        for (i, c) in configs.enumerated() {
            let b = try runLorakit(["budget", "--model", m, "--data", d] + withDefaults(c, ["--seq-len": "16", "--batch-size": "1"]))
            XCTAssertEqual(b.status, 0, b.stderr)
            let t = try runLorakit(["train", "--model", m, "--data", d, "--out", root + "/run\(i)", "--steps", "1", "--plain"]
                                   + withDefaults(c, ["--seq-len": "16", "--batch-size": "1"]))
            XCTAssertEqual(t.status, 0, t.stderr)
            XCTAssertFalse(table(b.stdout).isEmpty, b.stdout)
            XCTAssertEqual(table(b.stdout), table(t.stdout), "config \(c)")
            XCTAssertTrue(table(b.stdout).contains("predicted peak RSS"))
        }
    }

    // MARK: runs that end

    func testFailedRunLeavesNoEmptyFolderAndFinishedRunCanBeExtended() throws {
        let root = try tempDir("extend")
        let m = try defaultModelPath()
        let d = try data(root)
        let bad = try runLorakit(trainArgs(m, root + "/missing", root + "/nothing"))
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/nothing"))
        let out = root + "/run"
        let first = try runLorakit(trainArgs(m, d, out, ["--steps", "2", "--save-interval", "1"]))
        XCTAssertEqual(first.status, 0, first.stderr)
        let more = try runLorakit(trainArgs(m, d, out, ["--steps", "4", "--save-interval", "1"]))
        XCTAssertEqual(more.status, 0, more.stderr)
        XCTAssertTrue(more.stdout.contains("extending the run from 2 to 4 steps"), more.stdout)
        XCTAssertTrue(more.stdout.contains("resuming from") && more.stdout.contains("step 2/4"), more.stdout)
        XCTAssertTrue(more.stdout.contains("done: 4 steps"), more.stdout)
        let metrics = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        XCTAssertEqual(metrics.split(separator: "\n").filter { $0.contains("\"train\"") }.count, 4)
    }

    /// An unsupported architecture is named before an unsupported tensor type of the same file.
    func testUnsupportedArchitectureBeforeBlockType() throws {
        let root = try tempDir("arch")
        let path = root + "/mamba.gguf"
        let w = try GGUFWriter()
        try w.set("general.architecture", .string("mamba"))
        try w.addTensor(name: "blk.0.ssm.weight", dims: [4], values: [1, 2, 3, 4])
        try w.write(to: path)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        // Patch the tensor's type id (after name, n_dims u32 and one i64 dim) to 16 (IQ2_XXS), a type LoRAKit does not load.
        let at = try XCTUnwrap(bytes.range(of: Data("blk.0.ssm.weight".utf8))).upperBound + 4 + 8
        bytes[at] = 16
        try bytes.write(to: URL(fileURLWithPath: path))
        let r = try runLorakit(["inspect", path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("general.architecture is 'mamba'"), r.stderr)
    }

    // MARK: chat data

    /// Roles named, ShareGPT accepted, and a long conversation tokenized in linear time, through the binary.
    func testChatRolesAndLongConversations() throws {
        let root = try tempDir("chat")
        let m = try defaultModelPath()
        func write(_ name: String, _ lines: [String]) throws -> String {
            let d = root + "/" + name
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: d + "/train.jsonl"))
            return d
        }
        let human = try write("human", [#"{"messages": [{"role": "human", "content": "Where is Kest?"}, {"role": "gpt", "content": "Above Pell."}]}"#])
        let r1 = try runLorakit(trainArgs(m, human, root + "/o1"))
        XCTAssertNotEqual(r1.status, 0)
        XCTAssertTrue(r1.stderr.contains("train.jsonl:1:") && r1.stderr.contains("'human', not a known role"), r1.stderr)
        let noAnswer = try write("noanswer", [#"{"messages": [{"role": "user", "content": "Where is Kest?"}]}"#])
        let r2 = try runLorakit(trainArgs(m, noAnswer, root + "/o2"))
        XCTAssertNotEqual(r2.status, 0)
        XCTAssertTrue(r2.stderr.contains("has no assistant turn"), r2.stderr)
        let sharegpt = try write("sharegpt", (0..<4).map { _ in
            #"{"conversations": [{"from": "human", "value": "Where is Kest?"}, {"from": "gpt", "value": "Kest rises above Pell."}]}"# })
        let r3 = try runLorakit(trainArgs(m, sharegpt, root + "/o3", ["--steps", "1", "--seq-len", "128"]))
        XCTAssertEqual(r3.status, 0, r3.stderr)
        // One conversation of 1,500 and one of 6,000 messages: tokenizing is linear (it was 2.6 s vs 24.4 s),
        // so the whole run (load, tokenize, one step) takes about as long for both.
        func conversation(_ n: Int) -> String {
            let msgs = (0..<n).map { i in
                #"{"role": "\#(i % 2 == 0 ? "user" : "assistant")", "content": "Message \#(i) about the red moon Kest."}"# }
            return #"{"messages": ["# + msgs.joined(separator: ", ") + "]}"
        }
        var seconds: [Double] = []
        for n in [1500, 6000] {
            let d = try write("long\(n)", [conversation(n)])
            let t0 = Date()
            let r = try runLorakit(trainArgs(m, d, root + "/long\(n)", ["--steps", "1", "--seq-len", "128"]))
            seconds.append(Date().timeIntervalSince(t0))
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        XCTAssertLessThan(seconds[1], seconds[0] * 2 + 5, "6,000 messages took \(seconds[1]) s, 1,500 took \(seconds[0]) s")
    }
}
