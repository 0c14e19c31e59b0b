import Foundation
import LoRAKit
import XCTest

/// Hostile and broken input through `lorakit train` (and eval for an adapter): each case fails (or
/// warns) with a message naming the problem, and leaves no half-written file in the output folder.
/// The README's bad-input table lists these messages.
final class BadInputCLITests: XCTestCase {
    static var root = ""
    static var tinyModel = ""

    var repoRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    override class func setUp() {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-badinput-\(getpid())").path
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override class func tearDown() { try? FileManager.default.removeItem(atPath: root) }

    var root: String { Self.root }

    /// A 1-block SmolLM2-shaped model with random weights and the real tokenizer (fast to load).
    func model() throws -> String {
        if !Self.tinyModel.isEmpty { return Self.tinyModel }
        let p = root + "/tiny.gguf"
        let tok = repoRoot.appendingPathComponent("Tests/Fixtures/tokenizer/smollm2/tokenizer.json").path
        let r = try runLorakit(["synth", "--preset", "smollm2-135m", "--layers", "1", "--quant", "q8_0", "--out", p, "--tokenizer", tok])
        XCTAssertEqual(r.status, 0, r.stderr)
        Self.tinyModel = p
        return p
    }

    func dataDir(_ name: String, _ lines: [String]) throws -> String {
        let d = root + "/data-" + name
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: d + "/train.jsonl"))
        return d
    }

    var goodData: String {
        get throws {
            try dataDir("good", (0..<8).map { "{\"text\": \"Veloria note \($0): the red moon Kest rises after Pell, and the tides follow it.\"}" })
        }
    }

    func train(_ extra: [String], model m: String? = nil, data: String? = nil, out: String) throws -> ProcessResult {
        try runLorakit(["train", "--model", try m ?? model(), "--data", try data ?? goodData, "--out", out]
                       + withDefaults(extra, ["--steps": "2", "--batch-size": "1", "--seq-len": "16", "--rank": "2", "--threads": "2"])
                       + ["--plain"])
    }

    /// Fails with every `needle` in stderr; `out` holds no adapter and no temporary file.
    func assertRefused(_ r: ProcessResult, _ needles: [String], out: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertNotEqual(r.status, 0, r.stdout, file: file, line: line)
        for n in needles { XCTAssertTrue(r.stderr.contains(n), "expected '\(n)' in: \(r.stderr)", file: file, line: line) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/adapter"), "adapter written by a failed run", file: file, line: line)
        assertNoTemporaryFiles(out, file: file, line: line)
    }

    func assertNoTemporaryFiles(_ dir: String, file: StaticString = #filePath, line: UInt = #line) {
        let all = FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []
        XCTAssertEqual(all.filter { $0.contains(".tmp") }, [], "half-written files left in \(dir)", file: file, line: line)
    }

    // MARK: - Model files

    func testTruncatedGGUF() throws {
        let m = try model(), p = root + "/trunc.gguf"
        try FileManager.default.contents(atPath: m)!.prefix(5000).write(to: URL(fileURLWithPath: p))
        let out = root + "/o-trunc"
        assertRefused(try train([], model: p, out: out), ["trunc.gguf", "exceeds the", "bytes left in the file"], out: out)
    }

    func testGGUFWithUnknownVersion() throws {
        let p = root + "/v99.gguf"
        try Data([0x47, 0x47, 0x55, 0x46, 99, 0, 0, 0] + [UInt8](repeating: 0, count: 32)).write(to: URL(fileURLWithPath: p))
        let out = root + "/o-v99"
        assertRefused(try train([], model: p, out: out), ["v99.gguf", "unsupported format version 99"], out: out)
    }

    func hfFolder(_ name: String, tensors: [(String, [Int])]?, rawSafetensors: Data? = nil) throws -> String {
        let d = root + "/" + name
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        let config = #"{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 1, "vocab_size": 100, "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true}"#
        try Data(config.utf8).write(to: URL(fileURLWithPath: d + "/config.json"))
        var file = rawSafetensors ?? Data()
        if let tensors {
            var header: [String: Any] = [:], off = 0
            for (n, s) in tensors {
                let c = 4 * s.reduce(1, *)
                header[n] = ["dtype": "F32", "shape": s, "data_offsets": [off, off + c]]
                off += c
            }
            let h = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
            withUnsafeBytes(of: UInt64(h.count).littleEndian) { file.append(contentsOf: $0) }
            file.append(h)
            file.append(Data(count: off))
        }
        try file.write(to: URL(fileURLWithPath: d + "/model.safetensors"))
        return d
    }

    func testCorruptSafetensors() throws {
        let bad = Data([0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0] + Array(#"{"a":1}"#.utf8))
        let d = try hfFolder("hf-corrupt", tensors: nil, rawSafetensors: bad)
        let out = root + "/o-hfc"
        assertRefused(try train([], model: d, out: out), ["model.safetensors", "truncated file", "byte offset 8"], out: out)
    }

    func testConfigJSONDisagreesWithTensorShapes() throws {
        let l = "model.layers.0."
        let d = try hfFolder("hf-shape", tensors: [
            ("model.embed_tokens.weight", [100, 64]), ("model.norm.weight", [64]), (l + "input_layernorm.weight", [64]),
            (l + "post_attention_layernorm.weight", [64]), (l + "self_attn.q_proj.weight", [64, 48]),
            (l + "self_attn.k_proj.weight", [32, 64]), (l + "self_attn.v_proj.weight", [32, 64]), (l + "self_attn.o_proj.weight", [64, 64]),
            (l + "mlp.gate_proj.weight", [96, 64]), (l + "mlp.up_proj.weight", [96, 64]), (l + "mlp.down_proj.weight", [64, 96])])
        let out = root + "/o-hfs"
        assertRefused(try train([], model: d, out: out),
                      ["model.layers.0.self_attn.q_proj.weight", "has shape [64, 48], expected [64, 64]"], out: out)
    }

    func testInfInNormWeights() throws {
        let m = try model(), p = root + "/inf.gguf"
        var bytes = try XCTUnwrap(FileManager.default.contents(atPath: m))
        let info = try XCTUnwrap(try GGUFFile(path: m).tensorInfo(named: "blk.0.attn_norm.weight"))
        let inf = Float.infinity.bitPattern.littleEndian
        withUnsafeBytes(of: inf) { bytes.replaceSubrange((info.fileOffset + 12)..<(info.fileOffset + 16), with: $0) }
        try bytes.write(to: URL(fileURLWithPath: p))
        let out = root + "/o-inf"
        assertRefused(try train([], model: p, out: out), ["inf.gguf", "blk.0.attn_norm.weight", "non-finite value (inf) at index 3"], out: out)
    }

    // MARK: - Data

    func testBadJSONLLine() throws {
        let d = try dataDir("badline", [#"{"text": "fine line with enough words"}"#, #"{"text": 5}"#, "not json"])
        let out = root + "/o-badline"
        assertRefused(try train([], data: d, out: out), ["train.jsonl:2: field 'text' must be a string"], out: out)
        // --bad-lines skip trains on the good line and says which were skipped.
        let ok = try train(["--bad-lines", "skip", "--steps", "1"], data: d, out: root + "/o-badline-skip")
        XCTAssertEqual(ok.status, 0, ok.stderr)
        XCTAssertTrue(ok.stderr.contains("train.jsonl:2") && ok.stderr.contains("train.jsonl:3"), ok.stderr)
    }

    func testEmptyDataset() throws {
        let d = try dataDir("empty", [])
        let out = root + "/o-empty"
        assertRefused(try train([], data: d, out: out), ["train.jsonl: the dataset is empty"], out: out)
    }

    func testDatasetSmallerThanOneSequenceWarns() throws {
        let d = try dataDir("small", [#"{"text": "hi"}"#])
        let r = try train(["--seq-len", "64", "--steps", "1"], data: d, out: root + "/o-small")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("less than one batch (1 × 64)"), r.stderr)
    }

    func testSampleLongerThanTheSequenceWarnsAndLongerThanTheContextFails() throws {
        let d = try dataDir("long", ["{\"text\": \"" + String(repeating: "word ", count: 100) + "\"}"])
        let r = try train(["--steps", "1"], data: d, out: root + "/o-long")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("1 of 1 examples are longer than the sequence length (16 tokens) and were cut"), r.stderr)
        let out = root + "/o-ctx"
        assertRefused(try train(["--seq-len", "9000"], data: d, out: out), ["sequence length 9000 exceeds the model's context length 8192"], out: out)
    }

    // MARK: - LoRA options

    func testRankZeroTooLargeAlphaZeroUnknownTarget() throws {
        let out = root + "/o-lora"
        assertRefused(try train(["--rank", "0"], out: out), ["rank"], out: out)
        assertRefused(try train(["--rank", "1000", "--targets", "k_proj"], out: out), ["rank 1000", "k_proj", "192"], out: out)
        assertRefused(try train(["--alpha", "0"], out: out), ["LoRA alpha must be a positive finite number (got 0.0)"], out: out)
        assertRefused(try train(["--targets", "qq_proj"], out: out), ["unknown LoRA target module 'qq_proj'"], out: out)
    }

    func testAdapterForAnotherBase() throws {
        let text = root + "/eval.txt"
        try Data(String(repeating: "Veloria has three moons. ", count: 10).utf8).write(to: URL(fileURLWithPath: text))
        let adapter = repoRoot.appendingPathComponent("Tests/Fixtures/peft/adapter").path
        let r = try runLorakit(["eval", "--model", try model(), "--adapter", adapter, "--text", text, "--ctx", "16"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("adapter_model.safetensors") && r.stderr.contains("made for a different base model"), r.stderr)
    }

    func testCheckpointOfAnotherRunInOut() throws {
        let out = root + "/o-other-run"
        XCTAssertEqual(try train(["--steps", "1"], out: out).status, 0)
        let r = try train(["--steps", "1", "--rank", "4"], out: out)
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("belongs to a different run") && r.stderr.contains("lora.rank was 2, now 4")
                      && r.stderr.contains("--fresh"), r.stderr)
        let fresh = try train(["--steps", "1", "--rank", "4", "--fresh"], out: out)
        XCTAssertEqual(fresh.status, 0, fresh.stderr)
    }

    // MARK: - Output

    func testOutputFolderNotWritable() throws {
        let blocker = root + "/a-file"
        try Data("x".utf8).write(to: URL(fileURLWithPath: blocker))
        let r = try train([], out: blocker + "/run")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("output folder \(blocker)/run is not writable: Not a directory"), r.stderr)
    }

    /// Disk full while saving: a 160 KB tmpfs (root) or, failing that, a file-size limit.
    func testDiskFullWhileSaving() throws {
        let m = try model()
        let mnt = root + "/small-disk"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mounted = getuid() == 0 && shell("mount -t tmpfs -o size=160k tmpfs '\(mnt)'") == 0
        defer { if mounted { _ = shell("umount '\(mnt)'") } }
        let out = mnt + "/run"
        let args = ["train", "--model", m, "--data", try goodData, "--out", out, "--steps", "3", "--batch-size", "1", "--seq-len", "16",
                    "--rank", "8", "--targets", "all-linear", "--threads", "2", "--save-interval", "1", "--plain"]
        guard mounted else {
            // ulimit -f is in 1024-byte blocks in bash, 512 in POSIX sh: 200 blocks is ≥ 100 KB either way.
            let bin = productsDirectory.appendingPathComponent("lorakit").path
            let q = args.map { "'\($0)'" }.joined(separator: " ")
            let code = shell("ulimit -f 200; exec '\(bin)' \(q) > '\(root)/fsize.out' 2> '\(root)/fsize.err'")
            let err = (try? String(contentsOfFile: root + "/fsize.err", encoding: .utf8)) ?? ""
            XCTAssertNotEqual(code, 0)
            XCTAssertTrue(err.contains("could not write") && err.contains("file too large"), err)
            assertNoTemporaryFiles(out)
            return
        }
        let r = try runLorakit(args)
        XCTAssertNotEqual(r.status, 0, r.stdout)
        XCTAssertTrue(r.stderr.contains("could not write \(out)/checkpoints/step-000001.lkckpt: no space left on the device (disk full)"), r.stderr)
        XCTAssertTrue(r.stderr.contains(out), r.stderr)
        assertNoTemporaryFiles(out)
        // Whatever checkpoint exists is complete: a resume on a roomy disk reads it.
        for c in (try? FileManager.default.contentsOfDirectory(atPath: out + "/checkpoints")) ?? [] {
            XCTAssertNoThrow(try TrainingCheckpoint.load(path: out + "/checkpoints/" + c))
        }
    }

    @discardableResult
    func shell(_ cmd: String) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = ["-c", cmd]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }
}
