import Foundation
import XCTest
@testable import LoRAKit

/// Broken or foreign adapters are refused with errors that name the key and the shapes.
final class PEFTAdapterErrorTests: XCTestCase {
    let tiny = AdapterFixtures.tiny
    var dir = ""
    var weights: String { dir + "/adapter_model.safetensors" }

    override func setUpWithError() throws {
        dir = try makeTempDir(self) + "/adapter"
        let p = try AdapterFixtures.random(LoRAConfig(rank: 3, alpha: 6, targets: [.q_proj, .k_proj, .gate_proj]), tiny)
        try p.savePEFT(to: dir, model: tiny, baseModelName: "tiny")
    }

    /// Rewrites the weights file through `edit` (which may drop, rename or add tensors).
    func rewrite(_ edit: (SafetensorsFile, SafetensorsWriter) throws -> Void) throws {
        let f = try SafetensorsFile(path: weights)
        let w = SafetensorsWriter()
        try edit(f, w)
        try w.write(to: weights)
    }

    func copyAll(except skip: String? = nil, _ f: SafetensorsFile, _ w: SafetensorsWriter) throws {
        for t in f.tensors where t.name != skip { try w.add(name: t.name, shape: t.shape, values: try f.floats(named: t.name)) }
    }

    func expectError(_ model: LlamaConfig? = nil, _ check: (AdapterError, String) -> Void) {
        XCTAssertThrowsError(try LoRAParameters.loadPEFT(from: dir, model: model ?? tiny)) { e in
            guard let a = e as? AdapterError else { return XCTFail("not an AdapterError: \(e)") }
            check(a, a.description)
        }
    }

    func testMissingKey() throws {
        let key = "base_model.model.model.layers.2.mlp.gate_proj.lora_B.weight"
        try rewrite { f, w in try copyAll(except: key, f, w) }
        expectError { e, _ in XCTAssertEqual(e, .missingTensor(path: weights, key: key)) }
    }

    func testAdapterForAnotherBaseWidth() throws {
        let wider = LlamaConfig(blockCount: 3, embeddingLength: 72, feedForwardLength: 84, headCount: 6, headCountKV: 2,
                                vocabSize: 100, contextLength: 64, ropeFreqBase: 1e4, rmsNormEps: 1e-5, tiedEmbeddings: true)
        expectError(wider) { e, text in
            XCTAssertEqual(e, .wrongBase(path: weights, key: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                                         expected: [3, 72], actual: [3, 60]))
            XCTAssertTrue(text.contains("different base model"), text)
        }
    }

    func testAdapterForAnotherLayerCount() throws {
        var deeper = tiny
        deeper.blockCount = 4
        expectError(deeper) { e, text in
            XCTAssertEqual(e, .layerCountMismatch(path: weights, adapterLayers: 3, modelLayers: 4))
            XCTAssertTrue(text.contains("different base model"), text)
        }
        var shallower = tiny
        shallower.blockCount = 2
        expectError(shallower) { e, _ in
            guard case .layerOutOfRange(_, let key, 2, 2) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(key.contains("layers.2."), key)
        }
    }

    func testWrongRank() throws {
        var cfg = try String(contentsOfFile: dir + "/adapter_config.json", encoding: .utf8)
        cfg = cfg.replacingOccurrences(of: "\"r\": 3", with: "\"r\": 2")
        try cfg.write(toFile: dir + "/adapter_config.json", atomically: false, encoding: .utf8)
        expectError { e, text in
            XCTAssertEqual(e, .rankMismatch(path: weights, key: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                                            expectedRank: 2, shape: [3, 60]))
            XCTAssertTrue(text.contains("r=2") && text.contains("[3, 60]"), text)
        }
    }

    func testOneTensorWithAnotherShape() throws {
        let key = "base_model.model.model.layers.1.self_attn.k_proj.lora_B.weight"
        try rewrite { f, w in
            try copyAll(except: key, f, w)
            try w.add(name: key, shape: [21, 3], values: [Float](repeating: 0.5, count: 63))
        }
        expectError { e, _ in XCTAssertEqual(e, .wrongBase(path: weights, key: key, expected: [20, 3], actual: [21, 3])) }
    }

    func testUnknownModuleAndStrayTensors() throws {
        for bad in ["base_model.model.model.layers.0.self_attn.rotary_proj.lora_A.weight",
                    "base_model.model.model.layers.0.mlp.q_proj.lora_A.weight"] {
            try setUpWithError()
            try rewrite { f, w in
                try copyAll(f, w)
                try w.add(name: bad, shape: [3, 60], values: [Float](repeating: 1, count: 180))
            }
            expectError { e, text in
                guard case .unexpectedTensor(_, bad, _) = e else { return XCTFail("\(e)") }
                XCTAssertTrue(text.contains("unknown module"), text)
            }
        }
        for bad in ["base_model.model.lm_head.weight", "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector"] {
            try setUpWithError()
            try rewrite { f, w in
                try copyAll(f, w)
                try w.add(name: bad, shape: [4], values: [1, 2, 3, 4])
            }
            expectError { e, _ in
                guard case .unexpectedTensor(_, bad, _) = e else { return XCTFail("\(e)") }
            }
        }
        // A module that exists but is not in target_modules.
        try setUpWithError()
        try rewrite { f, w in
            try copyAll(f, w)
            try w.add(name: "base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", shape: [3, 60],
                      values: [Float](repeating: 1, count: 180))
        }
        expectError { e, text in XCTAssertTrue(text.contains("not in target_modules"), text) }
    }

    func testUnknownTargetInConfig() throws {
        var cfg = try String(contentsOfFile: dir + "/adapter_config.json", encoding: .utf8)
        cfg = cfg.replacingOccurrences(of: "\"gate_proj\"", with: "\"fc1\"")
        try cfg.write(toFile: dir + "/adapter_config.json", atomically: false, encoding: .utf8)
        expectError { e, text in
            guard case .invalidConfig(_, "target_modules", _) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(text.contains("fc1"), text)
        }
    }

    func testTruncatedSafetensors() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: weights))
        try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: weights))
        expectError { e, text in
            guard case .format = e else { return XCTFail("\(e)") }
            XCTAssertTrue(text.contains(weights), text)
        }
        try data.prefix(5).write(to: URL(fileURLWithPath: weights))
        expectError { e, _ in guard case .format(.truncated) = e else { return XCTFail("\(e)") } }
    }

    func testIntegerTensorIsRefused() throws {
        let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"
        try rewrite { f, w in
            try copyAll(except: key, f, w)
            try w.add(name: key, dtype: .i32, shape: [3, 60], bytes: [UInt8](repeating: 0, count: 720))
        }
        expectError { e, _ in XCTAssertEqual(e, .unsupportedDType(path: weights, key: key, dtype: "I32")) }
    }

    func testUnsupportedConfigs() throws {
        let original = try String(contentsOfFile: dir + "/adapter_config.json", encoding: .utf8)
        for (from, to, needle) in [("\"bias\": \"none\"", "\"bias\": \"all\"", "bias"),
                                   ("\"peft_type\": \"LORA\"", "\"peft_type\": \"IA3\"", "IA3"),
                                   ("\"rank_pattern\": {}", "\"rank_pattern\": {\"q_proj\": 8}", "rank_pattern"),
                                   ("\"modules_to_save\": null", "\"modules_to_save\": [\"lm_head\"]", "modules_to_save")] {
            try original.replacingOccurrences(of: from, with: to).write(toFile: dir + "/adapter_config.json", atomically: false, encoding: .utf8)
            expectError { e, text in
                guard case .unsupported = e else { return XCTFail("\(from): \(e)") }
                XCTAssertTrue(text.contains(needle), text)
            }
        }
        // DoRA is read, and then every magnitude must be there.
        try original.replacingOccurrences(of: "\"use_dora\": false", with: "\"use_dora\": true")
            .write(toFile: dir + "/adapter_config.json", atomically: false, encoding: .utf8)
        expectError { e, text in
            guard case .missingTensor = e else { return XCTFail("\(e)") }
            XCTAssertTrue(text.contains("lora_magnitude_vector"), text)
        }
        try "[1, 2]".write(toFile: dir + "/adapter_config.json", atomically: false, encoding: .utf8)
        expectError { e, _ in guard case .invalidConfig = e else { return XCTFail("\(e)") } }
        try original.replacingOccurrences(of: "\"r\": 3,", with: "").write(toFile: dir + "/adapter_config.json", atomically: false, encoding: .utf8)
        expectError { e, _ in XCTAssertEqual(e, .invalidConfig(path: dir + "/adapter_config.json", field: "r", message: "missing")) }
    }

    func testMissingFiles() throws {
        try FileManager.default.removeItem(atPath: weights)
        try Data().write(to: URL(fileURLWithPath: dir + "/adapter_model.bin"))
        expectError { e, text in
            guard case .io = e else { return XCTFail("\(e)") }
            XCTAssertTrue(text.contains("safe_serialization"), text)
        }
        XCTAssertThrowsError(try LoRAParameters.loadPEFT(from: dir + "/nope", model: tiny)) { e in
            XCTAssertTrue("\(e)".contains("not a PEFT adapter folder"), "\(e)")
        }
    }
}
