import Foundation
import XCTest
@testable import LoRAKit

/// Shared helpers of the adapter tests.
enum AdapterFixtures {
    /// Tests/Fixtures/peft (made by scripts/fixtures/peft_adapter.py with Python PEFT).
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/peft").path
    static var adapter: String { dir + "/adapter" }

    /// SmolLM2-135M's architecture (what the fixture adapter was made for).
    static let smol = LlamaConfig(blockCount: 30, embeddingLength: 576, feedForwardLength: 1536, headCount: 9, headCountKV: 3,
                                  vocabSize: 49152, contextLength: 8192, ropeFreqBase: 100_000, rmsNormEps: 1e-5, tiedEmbeddings: true)
    /// A tiny made-up model with grouped-query attention and ragged sizes.
    static let tiny = LlamaConfig(blockCount: 3, embeddingLength: 60, feedForwardLength: 84, headCount: 6, headCountKV: 2,
                                  vocabSize: 100, contextLength: 64, ropeFreqBase: 10_000, rmsNormEps: 1e-5, tiedEmbeddings: true)

    /// Parameters with every value random and nonzero.
    static func random(_ config: LoRAConfig, _ model: LlamaConfig, seed: UInt64 = 7) throws -> LoRAParameters {
        var p = try LoRAParameters(config: config, model: model)
        var g = SplitMix(state: seed)
        for i in 0 ..< p.values.count { p.values[i] = g.nextFloat() }
        return p
    }

    struct SplitMix {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            return SplitMix64.mix(state)
        }
        /// Uniform in (-1, 1), never zero.
        mutating func nextFloat() -> Float {
            let u = Float(next() >> 40) / Float(1 << 24)
            let v = 2 * u - 1
            return v == 0 ? 0.5 : v
        }
    }

    /// The adapter behind Tests/Fixtures/peft/peft_random_all_rslora.json: SmolLM2, all 7 targets, r=3,
    /// alpha 5 with rsLoRA, every value random (SplitMix seed 7) times 0.05.
    static func randomAllTargetsSmol() throws -> LoRAParameters {
        var p = try random(LoRAConfig(rank: 3, alpha: 5, dropout: 0.1, useRSLoRA: true, targets: LoRATarget.allCases, seed: 3), smol, seed: 7)
        for i in 0 ..< p.values.count { p.values[i] *= 0.05 }
        return p
    }

    /// GGUF row g of a q/k output, computed directly from the DESIGN.md formula.
    static func hfRow(ggufRow g: Int, headDim hd: Int) -> Int {
        let h = g / hd, rem = g % hd, i = rem / 2, j = rem % 2
        return h * hd + j * (hd / 2) + i
    }
}

final class PEFTAdapterTests: XCTestCase {
    let smol = AdapterFixtures.smol

    func testLoadsPythonPEFTFixture() throws {
        let p = try LoRAParameters.loadPEFT(from: AdapterFixtures.adapter, model: smol)
        XCTAssertEqual(p.config.rank, 4)
        XCTAssertEqual(p.config.alpha, 8)
        XCTAssertEqual(p.config.dropout, 0.05)
        XCTAssertFalse(p.config.useRSLoRA)
        XCTAssertEqual(p.config.targets, [.q_proj, .k_proj, .v_proj, .o_proj])
        XCTAssertEqual(p.config.scale, 2)
        XCTAssertEqual(p.slots.count, 120)
        XCTAssertEqual(p.count, 30 * (4 * 4 * 576 + 4 * (576 + 192 + 192 + 576)))

        // Check every value against the file, read independently; q/k B rows through the formula.
        let f = try SafetensorsFile(path: AdapterFixtures.adapter + "/adapter_model.safetensors")
        let hd = smol.headDim
        var permutedDiffers = 0
        for s in p.slots {
            let a = try f.floats(named: "base_model.model.model.layers.\(s.layer).\(s.target.peftPath).lora_A.weight")
            let b = try f.floats(named: "base_model.model.model.layers.\(s.layer).\(s.target.peftPath).lora_B.weight")
            XCTAssertEqual(Array(p.values[s.aOffset ..< s.aOffset + a.count]), a)
            let permuted = s.target == .q_proj || s.target == .k_proj
            for g in 0 ..< s.outFeatures {
                let src = permuted ? AdapterFixtures.hfRow(ggufRow: g, headDim: hd) : g
                for c in 0 ..< 4 where p.values[s.bOffset + g * 4 + c].bitPattern != b[src * 4 + c].bitPattern {
                    XCTFail("B mismatch at layer \(s.layer) \(s.target) row \(g) col \(c)"); return
                }
                if permuted, src != g, p.values[s.bOffset + g * 4] != b[g * 4] { permutedDiffers += 1 }
            }
        }
        XCTAssertGreaterThan(permutedDiffers, 1000, "q/k rows must really move")
        XCTAssertTrue(p.values.allSatisfy { $0 != 0 && $0.isFinite })
    }

    func testFixtureConfigMatchesTheModelFile() throws {
        let path = try smolLM2Path()
        XCTAssertEqual(try LlamaConfig(gguf: GGUFFile(path: path)), smol)
    }

    func testSaveReloadIsBitExact() throws {
        let tmp = try makeTempDir(self)
        // The Python fixture.
        let p = try LoRAParameters.loadPEFT(from: AdapterFixtures.adapter, model: smol)
        try p.savePEFT(to: tmp + "/a", model: smol, baseModelName: "HuggingFaceTB/SmolLM2-135M-Instruct")
        let q = try LoRAParameters.loadPEFT(from: tmp + "/a", model: smol)
        XCTAssertEqual(q, p)
        XCTAssertEqual(q.values.map(\.bitPattern), p.values.map(\.bitPattern))
        // Random values, all targets, rsLoRA, odd rank, a non-integral alpha, a seed.
        let cfg = LoRAConfig(rank: 3, alpha: 5.5, dropout: 0.1, useRSLoRA: true, targets: LoRATarget.allCases, seed: 12345)
        let r = try AdapterFixtures.random(cfg, AdapterFixtures.tiny)
        try r.savePEFT(to: tmp + "/nested/b", model: AdapterFixtures.tiny, baseModelName: "tiny \"quoted\"\n")
        let r2 = try LoRAParameters.loadPEFT(from: tmp + "/nested/b", model: AdapterFixtures.tiny)
        XCTAssertEqual(r2, r)
        XCTAssertEqual(r2.values.map(\.bitPattern), r.values.map(\.bitPattern))
        XCTAssertEqual(r2.config.seed, 12345)
    }

    /// What we write has PEFT's key set, shapes and dtype, and, for a PEFT-made adapter, the very same tensor bytes.
    func testSavedFilesMatchPythonLayout() throws {
        let tmp = try makeTempDir(self)
        let p = try LoRAParameters.loadPEFT(from: AdapterFixtures.adapter, model: smol)
        try p.savePEFT(to: tmp + "/a", model: smol, baseModelName: "/models/smol")
        let ours = try SafetensorsFile(path: tmp + "/a/adapter_model.safetensors")
        let theirs = try SafetensorsFile(path: AdapterFixtures.adapter + "/adapter_model.safetensors")
        XCTAssertEqual(Set(ours.tensors.map(\.name)), Set(theirs.tensors.map(\.name)))
        XCTAssertEqual(ours.metadata["format"], "pt")
        for t in theirs.tensors {
            let o = try XCTUnwrap(ours.tensorInfo(named: t.name))
            XCTAssertEqual(o.shape, t.shape, t.name)
            XCTAssertEqual(o.dtype, .f32)
            let same = try ours.tensorBytes(named: t.name).withUnsafeBytes { a in
                try theirs.tensorBytes(named: t.name).withUnsafeBytes { b in a.elementsEqual(b) }
            }
            XCTAssertTrue(same, "bytes of \(t.name) differ from PEFT's")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: tmp + "/a/adapter_config.json"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(json["peft_type"] as? String, "LORA")
        XCTAssertEqual(json["task_type"] as? String, "CAUSAL_LM")
        XCTAssertEqual(json["r"] as? Int, 4)
        XCTAssertEqual(json["lora_alpha"] as? Int, 8)
        XCTAssertEqual((json["lora_dropout"] as? NSNumber)?.doubleValue, 0.05)
        XCTAssertEqual(json["target_modules"] as? [String], ["k_proj", "o_proj", "q_proj", "v_proj"])
        XCTAssertEqual(json["bias"] as? String, "none")
        XCTAssertEqual(json["base_model_name_or_path"] as? String, "/models/smol")
        for k in ["use_rslora", "fan_in_fan_out", "use_dora"] { XCTAssertEqual(json[k] as? Bool, false, k) }
        for k in ["inference_mode", "init_lora_weights"] { XCTAssertEqual(json[k] as? Bool, true, k) }
        for k in ["modules_to_save", "layers_to_transform", "revision"] { XCTAssertTrue(json[k] is NSNull, k) }
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"lora_dropout\": 0.05,"))
    }

    func testOverwriteKeepsOtherFilesAndLeavesNoTemporaries() throws {
        let tmp = try makeTempDir(self)
        let cfg = LoRAConfig(rank: 2, alpha: 4, targets: [.v_proj, .down_proj])
        let a = try AdapterFixtures.random(cfg, AdapterFixtures.tiny, seed: 1)
        let b = try AdapterFixtures.random(LoRAConfig(rank: 5, alpha: 10, targets: [.q_proj]), AdapterFixtures.tiny, seed: 2)
        try a.savePEFT(to: tmp + "/ad", model: AdapterFixtures.tiny, baseModelName: "tiny")
        try Data("notes".utf8).write(to: URL(fileURLWithPath: tmp + "/ad/README.md"))
        try b.savePEFT(to: tmp + "/ad", model: AdapterFixtures.tiny, baseModelName: "tiny")
        XCTAssertEqual(try LoRAParameters.loadPEFT(from: tmp + "/ad", model: AdapterFixtures.tiny), b)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp + "/ad").sorted(),
                       ["README.md", "adapter_config.json", "adapter_model.safetensors"])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp).sorted(), ["ad"])
        // A failed save (parameters that don't fit the model) leaves the old adapter as it was.
        XCTAssertThrowsError(try a.savePEFT(to: tmp + "/ad", model: smol, baseModelName: "x"))
        XCTAssertEqual(try LoRAParameters.loadPEFT(from: tmp + "/ad", model: AdapterFixtures.tiny), b)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp + "/ad").count, 3)
        // A path that is a file is refused.
        try Data().write(to: URL(fileURLWithPath: tmp + "/file"))
        XCTAssertThrowsError(try a.savePEFT(to: tmp + "/file", model: AdapterFixtures.tiny, baseModelName: "x")) { e in
            XCTAssertTrue("\(e)".contains("not a folder"), "\(e)")
        }
    }

    /// PEFT in-memory names (`.default`, no `base_model.model.` prefix) and half-precision tensors.
    func testReadsF16BF16AndAlternateKeyForms() throws {
        let tmp = try makeTempDir(self)
        let tiny = AdapterFixtures.tiny
        let cfg = LoRAConfig(rank: 2, alpha: 3, targets: [.k_proj, .up_proj])
        let ref = try AdapterFixtures.random(cfg, tiny, seed: 9)
        let w = SafetensorsWriter()
        var expected = ref
        for (n, s) in ref.slots.enumerated() {
            let dtype: SafetensorsDType = n % 2 == 0 ? .f16 : .bf16
            func round(_ v: Float) -> Float {
                dtype == .f16 ? FloatConversion.halfToFloat(FloatConversion.floatToHalf(v))
                    : FloatConversion.bf16ToFloat(FloatConversion.floatToBF16(v))
            }
            let a = Array(ref.values[s.aOffset ..< s.aOffset + 2 * s.inFeatures])
            var bHF = Array(ref.values[s.bOffset ..< s.bOffset + 2 * s.outFeatures])
            if s.target == .k_proj { bHF = try QKPermutation.ggufToHF(bHF, rows: s.outFeatures, cols: 2, heads: tiny.headCountKV) }
            let prefix = n % 3 == 0 ? "model.layers" : (n % 3 == 1 ? "base_model.model.model.layers" : "layers")
            try w.add(name: "\(prefix).\(s.layer).\(s.target.peftPath).lora_A.default.weight", dtype: dtype, shape: [2, s.inFeatures], values: a)
            try w.add(name: "\(prefix).\(s.layer).\(s.target.peftPath).lora_B.weight", dtype: dtype, shape: [s.outFeatures, 2], values: bHF)
            for j in s.aOffset ..< s.aOffset + 2 * s.inFeatures { expected.values[j] = round(ref.values[j]) }
            for j in s.bOffset ..< s.bOffset + 2 * s.outFeatures { expected.values[j] = round(ref.values[j]) }
        }
        try FileManager.default.createDirectory(atPath: tmp + "/h", withIntermediateDirectories: true)
        try w.write(to: tmp + "/h/adapter_model.safetensors")
        try Data(#"{"r": 2, "lora_alpha": 3, "target_modules": "all-linear", "peft_type": "LORA"}"#.utf8)
            .write(to: URL(fileURLWithPath: tmp + "/h/adapter_config.json"))
        // "all-linear" would need every module: refused with the first missing key.
        XCTAssertThrowsError(try LoRAParameters.loadPEFT(from: tmp + "/h", model: tiny)) { e in
            XCTAssertEqual(e as? AdapterError, .missingTensor(path: tmp + "/h/adapter_model.safetensors",
                                                              key: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"))
        }
        // A regular expression: the targets come from the keys.
        try Data(#"{"r": 2, "lora_alpha": 3, "target_modules": ".*(k_proj|up_proj)"}"#.utf8)
            .write(to: URL(fileURLWithPath: tmp + "/h/adapter_config.json"))
        let p = try LoRAParameters.loadPEFT(from: tmp + "/h", model: tiny)
        XCTAssertEqual(p.config.targets, [.k_proj, .up_proj])
        XCTAssertEqual(p.values.map(\.bitPattern), expected.values.map(\.bitPattern))
    }

    /// Run by hand: `LORAKIT_ADAPTER_DUMP_DIR=/tmp/x swift test --filter testDumpAdaptersForPythonCheck` writes
    /// the adapters that scripts/check_peft_load.py loads with Python PEFT (`resaved`: the fixture after a
    /// load/save round trip; `random-all`: `randomAllTargetsSmol()`, plus its llama.cpp GGUF).
    func testDumpAdaptersForPythonCheck() throws {
        guard let dir = ProcessInfo.processInfo.environment["LORAKIT_ADAPTER_DUMP_DIR"] else {
            throw XCTSkip("set LORAKIT_ADAPTER_DUMP_DIR to write adapters for scripts/check_peft_load.py")
        }
        let name = "HuggingFaceTB/SmolLM2-135M-Instruct"
        try LoRAParameters.loadPEFT(from: AdapterFixtures.adapter, model: smol).savePEFT(to: dir + "/resaved", model: smol, baseModelName: name)
        let r = try AdapterFixtures.randomAllTargetsSmol()
        try r.savePEFT(to: dir + "/random-all", model: smol, baseModelName: name)
        try r.exportLlamaCppGGUF(to: dir + "/random-all.gguf", model: smol)
    }

    func testLayersToTransformGivesZeroFactorsElsewhere() throws {
        let tmp = try makeTempDir(self)
        let tiny = AdapterFixtures.tiny
        let full = try AdapterFixtures.random(LoRAConfig(rank: 2, alpha: 2, targets: [.o_proj]), tiny)
        try full.savePEFT(to: tmp + "/a", model: tiny, baseModelName: "t")
        // Keep only layer 1 in the file and say so in the config.
        let f = try SafetensorsFile(path: tmp + "/a/adapter_model.safetensors")
        let w = SafetensorsWriter()
        for t in f.tensors where t.name.contains("layers.1.") { try w.add(name: t.name, shape: t.shape, values: try f.floats(named: t.name)) }
        try w.write(to: tmp + "/a/adapter_model.safetensors")
        var cfg = try String(contentsOfFile: tmp + "/a/adapter_config.json", encoding: .utf8)
        cfg = cfg.replacingOccurrences(of: "\"layers_to_transform\": null", with: "\"layers_to_transform\": [1]")
        try cfg.write(toFile: tmp + "/a/adapter_config.json", atomically: false, encoding: .utf8)
        let p = try LoRAParameters.loadPEFT(from: tmp + "/a", model: tiny)
        for s in p.slots {
            let a = p.values[s.aOffset ..< s.aOffset + 2 * s.inFeatures], b = p.values[s.bOffset ..< s.bOffset + 2 * s.outFeatures]
            let fa = full.values[s.aOffset ..< s.aOffset + 2 * s.inFeatures], fb = full.values[s.bOffset ..< s.bOffset + 2 * s.outFeatures]
            if s.layer == 1 { XCTAssertEqual(a, fa); XCTAssertEqual(b, fb) } else {
                XCTAssertTrue(a.allSatisfy { $0 == 0 } && b.allSatisfy { $0 == 0 })
            }
        }
    }
}
