import Foundation
import XCTest
@testable import LoRAKit

/// The llama.cpp LoRA GGUF export, re-read with the GGUF reader and checked against the Python
/// PEFT fixture (q/k B rows permuted by an independent formula) and llama.cpp's loader rules.
final class LlamaCppAdapterTests: XCTestCase {
    let smol = AdapterFixtures.smol

    func testExportOfPythonFixture() throws {
        let tmp = try makeTempDir(self)
        let p = try LoRAParameters.loadPEFT(from: AdapterFixtures.adapter, model: smol)
        try p.exportLlamaCppGGUF(to: tmp + "/a.gguf", model: smol)
        let g = try GGUFFile(path: tmp + "/a.gguf")
        XCTAssertEqual(g.metadata["general.type"]?.string, "adapter")
        XCTAssertEqual(g.metadata["general.architecture"]?.string, "llama")
        XCTAssertEqual(g.metadata["adapter.type"]?.string, "lora")
        XCTAssertEqual(g.metadata["adapter.lora.alpha"], .float32(8))
        XCTAssertEqual(g.tensors.count, 240)
        XCTAssertEqual(g.alignment, 32)

        let st = try SafetensorsFile(path: AdapterFixtures.adapter + "/adapter_model.safetensors")
        let ggufNames = ["q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output"]
        let widths = ["q_proj": 576, "k_proj": 192, "v_proj": 192, "o_proj": 576]
        for layer in [0, 1, 17, 29] {
            for (module, stem) in ggufNames {
                let out = widths[module]!
                let a = try XCTUnwrap(g.tensorInfo(named: "blk.\(layer).\(stem).weight.lora_a"))
                let b = try XCTUnwrap(g.tensorInfo(named: "blk.\(layer).\(stem).weight.lora_b"))
                XCTAssertEqual(a.dims, [576, 4])
                XCTAssertEqual(b.dims, [4, out])
                XCTAssertEqual(a.type, .f32)
                XCTAssertEqual(b.type, .f32)
                // llama.cpp's checks: a.ne[0] == base ne[0] (in), b.ne[1] == base ne[1] (out), a.ne[1] == b.ne[0] (r).
                XCTAssertEqual(a.dims[1], b.dims[0])
                let hfA = try st.floats(named: "base_model.model.model.layers.\(layer).self_attn.\(module).lora_A.weight")
                let hfB = try st.floats(named: "base_model.model.model.layers.\(layer).self_attn.\(module).lora_B.weight")
                XCTAssertEqual(try g.floats(named: a.name), hfA)
                let gb = try g.floats(named: b.name)
                let permuted = module == "q_proj" || module == "k_proj"
                for row in 0 ..< out {
                    let src = permuted ? AdapterFixtures.hfRow(ggufRow: row, headDim: 64) : row
                    XCTAssertEqual(Array(gb[row * 4 ..< row * 4 + 4]), Array(hfB[src * 4 ..< src * 4 + 4]), "\(b.name) row \(row)")
                }
            }
        }
    }

    /// Bit-identical to what llama.cpp's own convert_lora_to_gguf.py makes of the same PEFT adapter
    /// (scripts/fixtures/peft_llamacpp_reference.py: metadata, names, ne, type and FNV-1a hash of every tensor).
    func testExportMatchesLlamaCppConverter() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: AdapterFixtures.dir + "/llamacpp_convert.json"))
        let ref = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let meta = try XCTUnwrap(ref["metadata"] as? [String: Any])
        let tensors = try XCTUnwrap(ref["tensors"] as? [[String: Any]])
        let tmp = try makeTempDir(self)
        let p = try LoRAParameters.loadPEFT(from: AdapterFixtures.adapter, model: smol)
        try p.exportLlamaCppGGUF(to: tmp + "/a.gguf", model: smol)
        let g = try GGUFFile(path: tmp + "/a.gguf")
        XCTAssertEqual(meta.count, 4)
        for (k, v) in meta {
            if let s = v as? String { XCTAssertEqual(g.metadata[k]?.string, s, k) } else {
                XCTAssertEqual(g.metadata[k], .float32(Float((v as? NSNumber)?.doubleValue ?? .nan)), k)
            }
        }
        XCTAssertEqual(g.tensors.count, tensors.count)
        for t in tensors {
            let name = try XCTUnwrap(t["name"] as? String)
            let info = try XCTUnwrap(g.tensorInfo(named: name), "missing \(name)")
            XCTAssertEqual(info.dims, t["ne"] as? [Int], name)
            XCTAssertEqual(info.type, .f32, name)
            XCTAssertEqual(t["type"] as? String, "F32")
            let hash = try g.tensorBytes(named: name).withUnsafeBytes { raw -> UInt64 in
                var h: UInt64 = 0xCBF2_9CE4_8422_2325
                for b in raw { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
                return h
            }
            XCTAssertEqual(String(format: "%016lx", hash), t["fnv1a64"] as? String, name)
        }
    }

    /// The exported shapes fit the base GGUF's own tensors the way llama.cpp checks them.
    func testShapesFitTheBaseModelTensors() throws {
        let path = try smolLM2Path()
        let base = try GGUFFile(path: path)
        let model = try LlamaConfig(gguf: base)
        let tmp = try makeTempDir(self)
        let p = try AdapterFixtures.random(LoRAConfig(rank: 5, alpha: 7, targets: LoRATarget.allCases), model)
        try p.exportLlamaCppGGUF(to: tmp + "/all.gguf", model: model)
        let g = try GGUFFile(path: tmp + "/all.gguf")
        XCTAssertEqual(g.tensors.count, 2 * 7 * model.blockCount)
        for t in g.tensors where t.name.hasSuffix(".lora_a") {
            let stem = String(t.name.dropLast(".lora_a".count))
            let w = try XCTUnwrap(base.tensorInfo(named: stem), "base has no \(stem)")
            let b = try XCTUnwrap(g.tensorInfo(named: stem + ".lora_b"))
            XCTAssertEqual(w.dims[0], t.dims[0], stem)
            XCTAssertEqual(w.dims[1], b.dims[1], stem)
            XCTAssertEqual(t.dims[1], b.dims[0], stem)
        }
    }

    func testRSLoRAAlphaGivesTheSameScale() throws {
        let cfg = LoRAConfig(rank: 4, alpha: 8, useRSLoRA: true, targets: [.v_proj])
        XCTAssertEqual(cfg.scale, 4)
        XCTAssertEqual(LlamaCppAdapter.llamaCppAlpha(cfg), 16)
        XCTAssertEqual(LlamaCppAdapter.llamaCppAlpha(cfg) / Float(cfg.rank), cfg.scale)
        let cfg9 = LoRAConfig(rank: 9, alpha: 5, useRSLoRA: true, targets: [.v_proj])
        XCTAssertEqual(LlamaCppAdapter.llamaCppAlpha(cfg9) / 9, cfg9.scale, accuracy: 1e-6)
        let tmp = try makeTempDir(self)
        let p = try AdapterFixtures.random(cfg, AdapterFixtures.tiny)
        try p.exportLlamaCppGGUF(to: tmp + "/rs.gguf", model: AdapterFixtures.tiny)
        XCTAssertEqual(try GGUFFile(path: tmp + "/rs.gguf").metadata["adapter.lora.alpha"], .float32(16))
    }

    func testExportThenImportIsBitExact() throws {
        let tmp = try makeTempDir(self)
        let tiny = AdapterFixtures.tiny
        let p = try AdapterFixtures.random(LoRAConfig(rank: 3, alpha: 6, targets: [.q_proj, .k_proj, .down_proj]), tiny)
        try p.exportLlamaCppGGUF(to: tmp + "/t.gguf", model: tiny)
        let q = try LoRAParameters.loadLlamaCppGGUF(from: tmp + "/t.gguf", model: tiny)
        XCTAssertEqual(q.config.rank, 3)
        XCTAssertEqual(q.config.alpha, 6)
        XCTAssertEqual(q.config.targets, [.q_proj, .k_proj, .down_proj])
        XCTAssertEqual(q.values.map(\.bitPattern), p.values.map(\.bitPattern))
        // On another base the import is refused.
        var other = tiny
        other.feedForwardLength = 96
        XCTAssertThrowsError(try LoRAParameters.loadLlamaCppGGUF(from: tmp + "/t.gguf", model: other)) { e in
            XCTAssertEqual(e as? AdapterError, .wrongBase(path: tmp + "/t.gguf", key: "blk.0.ffn_down.weight.lora_a",
                                                          expected: [96, 3], actual: [84, 3]))
        }
        // PEFT → GGUF and GGUF → PEFT agree.
        try q.savePEFT(to: tmp + "/peft", model: tiny, baseModelName: "tiny")
        XCTAssertEqual(try LoRAParameters.loadPEFT(from: tmp + "/peft", model: tiny).values, p.values)
    }

    func testHalfPrecisionExportRoundsToNearestEven() throws {
        let tmp = try makeTempDir(self)
        let tiny = AdapterFixtures.tiny
        let p = try AdapterFixtures.random(LoRAConfig(rank: 2, alpha: 4, targets: [.k_proj, .up_proj]), tiny)
        for (type, round) in [(GGMLType.f16, { FloatConversion.halfToFloat(FloatConversion.floatToHalf($0)) }),
                              (GGMLType.bf16, { FloatConversion.bf16ToFloat(FloatConversion.floatToBF16($0)) })] as [(GGMLType, (Float) -> Float)] {
            try p.exportLlamaCppGGUF(to: tmp + "/h.gguf", model: tiny, type: type)
            let g = try GGUFFile(path: tmp + "/h.gguf")
            XCTAssertTrue(g.tensors.allSatisfy { $0.type == type })
            let q = try LoRAParameters.loadLlamaCppGGUF(from: tmp + "/h.gguf", model: tiny)
            XCTAssertEqual(q.values, p.values.map(round))
            XCTAssertNotEqual(q.values, p.values)
        }
        XCTAssertThrowsError(try p.exportLlamaCppGGUF(to: tmp + "/q.gguf", model: tiny, type: .q8_0))
    }

    func testExportRefusesParametersOfAnotherModel() throws {
        let tmp = try makeTempDir(self)
        let p = try AdapterFixtures.random(LoRAConfig(rank: 2, alpha: 2, targets: [.q_proj]), AdapterFixtures.tiny)
        XCTAssertThrowsError(try p.exportLlamaCppGGUF(to: tmp + "/x.gguf", model: smol))
        XCTAssertFalse(FileManager.default.fileExists(atPath: tmp + "/x.gguf"))
    }
}
