import CKernels
import Foundation
import XCTest
@testable import LoRAKit

/// `SynthModel`: exact tensor names/shapes/metadata of the presets, weight statistics, llama3 RoPE
/// factors, the real Llama 3 tokenizer carried in `tokenizer.ggml.*`, reproducibility.
final class SynthModelTests: XCTestCase {
    static let llama3TokenizerPath: String = {
        let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        return here.appendingPathComponent("../Fixtures/tokenizer/llama3/tokenizer.json").standardized.path
    }()

    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-synth-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// Llama 3.1 8B's tensor list as llama.cpp's converter writes it: 292 tensors, 8.03 B parameters.
    func testPresetTensorListMatchesLlama31_8B() {
        let t = SynthModel.tensorShapes(ModelPreset.llama31_8b.config)
        XCTAssertEqual(t.count, 292)
        let params = t.reduce(0) { $0 + $1.dims.reduce(1, *) }
        XCTAssertEqual(params, 8_030_261_248 + 64)   // HF count + rope_freqs (64 floats)
        let byName = Dictionary(uniqueKeysWithValues: t.map { ($0.name, $0.dims) })
        XCTAssertEqual(byName["token_embd.weight"], [4096, 128_256])
        XCTAssertEqual(byName["output.weight"], [4096, 128_256])
        XCTAssertEqual(byName["rope_freqs.weight"], [64])
        XCTAssertEqual(byName["blk.31.attn_k.weight"], [4096, 1024])
        XCTAssertEqual(byName["blk.0.ffn_down.weight"], [14336, 4096])
        // Tied 1B: no output.weight. 1,235,814,400 parameters (HF) + 32 rope factors.
        let t1 = SynthModel.tensorShapes(ModelPreset.llama32_1b.config)
        XCTAssertNil(t1.first { $0.name == "output.weight" })
        XCTAssertEqual(t1.reduce(0) { $0 + $1.dims.reduce(1, *) }, 1_235_814_400 + 32)
        // Q4_0 data of the 8B file: every matrix at 18 bytes per 32 elements, F32 norms.
        let o = SynthOptions(preset: .llama31_8b, type: .q4_0)
        XCTAssertEqual(SynthModel.dataBytes(o), 8_029_995_008 / 32 * 18 + (65 * 4096 + 64) * 4)
    }

    /// A 2-layer Llama-3.2-1B-shaped file with the real tokenizer: metadata, shapes, statistics, RoPE factors.
    func testSmallLlama32FileReadsBack() throws {
        let dir = try tempDir()
        let vocab = try BPEVocabulary(tokenizerJSONPath: Self.llama3TokenizerPath)
        var o = SynthOptions(preset: .llama32_1b, type: .q8_0, seed: 7, layers: 2, vocabulary: vocab)
        o.config.embeddingLength = 256; o.config.feedForwardLength = 384; o.config.headCount = 4; o.config.headCountKV = 2
        let path = dir + "/s.gguf"
        let size = try SynthModel.write(o, to: path)
        let w = try ModelWeights.load(path: path)
        XCTAssertEqual(size, w.gguf?.fileSize)
        var expect = o.config
        expect.ropeScaling = nil                      // GGUF carries the factors as a tensor
        XCTAssertEqual(w.config, expect)
        XCTAssertNil(w.output)
        XCTAssertEqual(w.tokenEmbedding.type, .q8_0)
        XCTAssertEqual(w.metadata["tokenizer.ggml.pre"]?.string, "llama-bpe")
        XCTAssertEqual(w.metadata["general.file_type"]?.int, 7)

        // llama3 factors: 1 for high frequencies, 32 for low, smooth between (hd 64 → 32 factors).
        let f = try XCTUnwrap(w.ropeFreqFactors)
        XCTAssertEqual(f, ModelWeights.llama3RopeFactors(try XCTUnwrap(ModelPreset.llama32_1b.config.ropeScaling), config: o.config))
        XCTAssertEqual(f.count, 32)
        XCTAssertEqual(f.first, 1)
        XCTAssertEqual(f.last, 32)

        // Linear weights ~ N(0, 0.02²): mean, std, excess kurtosis of a 4-sum Irwin–Hall (−0.3), norms ≈ 1.
        let embHead = try XCTUnwrap(QuantizedMatrix(type: .q8_0, rows: 4096, cols: 256, storage: w.tokenEmbedding.storage,
                                                     offset: w.tokenEmbedding.offset))
        for m in [w.layers[1].gate, w.layers[0].k, embHead] {
            let x = dequantized(m)
            let n = Double(x.count)
            let mean = x.reduce(0.0) { $0 + Double($1) } / n
            let varc = x.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
            let k4 = x.reduce(0.0) { let d = Double($1) - mean; return $0 + d * d * d * d } / n / (varc * varc) - 3
            XCTAssertEqual(mean, 0, accuracy: 2e-4)
            XCTAssertEqual(varc.squareRoot(), 0.02, accuracy: 0.0005)
            XCTAssertEqual(k4, -0.3, accuracy: 0.1)
        }
        for v in w.layers[0].attnNorm + w.outputNorm { XCTAssertEqual(v, 1, accuracy: 0.0100001) }
        XCTAssertNotEqual(w.layers[0].attnNorm, w.layers[1].attnNorm)
    }

    /// The GGUF tokenizer (128,256 ids, 280,147 merges) encodes like the tokenizer.json it came from,
    /// including ids above 65,535; `<|image|>` (128256, past vocab_size) is dropped.
    func testTokenizerMetadataMatchesTokenizerJSON() throws {
        let dir = try tempDir()
        let vocab = try BPEVocabulary(tokenizerJSONPath: Self.llama3TokenizerPath)
        var c = ModelPreset.llama32_1b.config
        c.blockCount = 1; c.embeddingLength = 32; c.feedForwardLength = 64; c.headCount = 2; c.headCountKV = 1
        let path = dir + "/t.gguf"
        try SynthModel.write(SynthOptions(config: c, type: .q8_0, seed: 1, vocabulary: vocab), to: path)
        let f = try GGUFFile(path: path)
        let fromGGUF = try BPEVocabulary(ggufMetadata: f.metadata)
        XCTAssertEqual(fromGGUF.count, 128_256)
        XCTAssertEqual(fromGGUF.merges.count, 280_147)
        XCTAssertEqual(fromGGUF.tokens, Array(vocab.tokens.prefix(128_256)))
        XCTAssertEqual(fromGGUF.bosID, 128_000)
        XCTAssertEqual(fromGGUF.tokenTypes[128_000], TokenType.control.rawValue)
        let a = try Tokenizer(fromGGUF), b = try Tokenizer(vocab)
        let text = "Hello Veloria, 412 days!<|eot_id|>  naïve   ü 日本語 <|end_of_text|>"
        let ids = a.encode(text)                      // BOS added, as the tokenizer.json's post-processor says
        XCTAssertEqual(ids, b.encode(text))
        XCTAssertEqual(ids.first, 128_000)
        XCTAssertTrue(ids.contains(128_009) && ids.contains(128_001))
        XCTAssertEqual(a.decode(ids), "<|begin_of_text|>" + text)
    }

    /// Same seed, same bytes; another seed, other weights; unsupported types and bad shapes throw.
    func testSeededAndChecked() throws {
        let dir = try tempDir()
        var c = ModelPreset.smollm2_135m.config
        c.blockCount = 1; c.embeddingLength = 64; c.feedForwardLength = 96; c.headCount = 4; c.headCountKV = 2; c.vocabSize = 100
        for t in [GGMLType.q4_0, .q4_1, .q8_0, .f16, .f32] {
            try SynthModel.write(SynthOptions(config: c, type: t, seed: 3), to: dir + "/a.gguf")
            try SynthModel.write(SynthOptions(config: c, type: t, seed: 3), to: dir + "/b.gguf")
            try SynthModel.write(SynthOptions(config: c, type: t, seed: 4), to: dir + "/c.gguf")
            let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.gguf"))
            XCTAssertEqual(a, try Data(contentsOf: URL(fileURLWithPath: dir + "/b.gguf")), "\(t)")
            XCTAssertNotEqual(a, try Data(contentsOf: URL(fileURLWithPath: dir + "/c.gguf")), "\(t)")
            let w = try ModelWeights.load(path: dir + "/a.gguf")
            XCTAssertEqual(w.layers[0].up.type, t)
            XCTAssertNil(w.ropeFreqFactors)           // SmolLM2 has no rope scaling
        }
        XCTAssertThrowsError(try SynthModel.write(SynthOptions(config: c, type: .q4_K), to: dir + "/x.gguf")) {
            XCTAssertEqual($0 as? SynthError, .unsupportedType(.q4_K))
        }
        var bad = c; bad.feedForwardLength = 100   // not a multiple of 32
        XCTAssertThrowsError(try SynthModel.write(SynthOptions(config: bad, type: .q8_0), to: dir + "/x.gguf"))
        let vocab = try BPEVocabulary(tokenizerJSONPath: Self.llama3TokenizerPath)
        XCTAssertThrowsError(try SynthModel.write(SynthOptions(config: c, type: .q8_0, vocabulary: vocab), to: dir + "/x.gguf")) {
            XCTAssertEqual($0 as? SynthError, .vocabularyTooLarge(tokens: 128_257, vocabSize: 100))
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x.gguf"))
    }

    func dequantized(_ m: QuantizedMatrix) -> [Float] {
        var out = [Float](repeating: 0, count: m.rows * m.cols)
        m.withUnsafeBytes { p in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<m.rows {
                    lk_dequantize_row_ref(lk_type(rawValue: m.type.rawValue), o.baseAddress! + r * m.cols, p + r * m.rowBytes, Int64(m.cols))
                }
            }
        }
        return out
    }
}
