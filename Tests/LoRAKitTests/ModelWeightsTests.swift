import Foundation
import XCTest
@testable import LoRAKit

/// SplitMix64: a small seeded generator for test data.
struct TestRNG: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }
    /// Random values whose scale varies by row (so blocks differ in range).
    mutating func matrix(_ rows: Int, _ cols: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(rows * cols)
        for _ in 0 ..< rows {
            let s = Float.random(in: 0.05 ... 2, using: &self), shift = Float.random(in: -0.5 ... 0.5, using: &self)
            for _ in 0 ..< cols { out.append(Float.random(in: -1 ... 1, using: &self) * s + shift * s) }
        }
        return out
    }
}

/// Dequantizes row `r` of `m`.
func dequantizedRow(_ m: QuantizedMatrix, _ r: Int) throws -> [Float] {
    var row = [Float](repeating: 0, count: m.cols)
    try m.withUnsafeBytes { base in
        try row.withUnsafeMutableBufferPointer { try RowCodec.dequantize(m.type, $0.baseAddress!, base + r * m.rowBytes, m.cols) }
    }
    return row
}

final class ModelWeightsGGUFTests: XCTestCase {
    func testSmolLM2Loads() throws {
        let path = try smolLM2Path()
        let t0 = Date()
        let w = try ModelWeights.load(path: path)
        print("ModelWeights.load SmolLM2: \(String(format: "%.3f", Date().timeIntervalSince(t0))) s")
        let c = w.config
        XCTAssertEqual(c.blockCount, 30)
        XCTAssertEqual(c.embeddingLength, 576)
        XCTAssertEqual(c.feedForwardLength, 1536)
        XCTAssertEqual(c.headCount, 9)
        XCTAssertEqual(c.headCountKV, 3)
        XCTAssertEqual(c.vocabSize, 49152)
        XCTAssertEqual(c.contextLength, 8192)
        XCTAssertEqual(c.ropeFreqBase, 100000)
        XCTAssertEqual(c.rmsNormEps, 1e-5)
        XCTAssertTrue(c.tiedEmbeddings)
        XCTAssertNil(c.ropeScaling)
        XCTAssertNil(w.output)
        XCTAssertNil(w.ropeFreqFactors)
        XCTAssertEqual(w.source.format, .gguf)
        XCTAssertEqual(w.layers.count, 30)
        XCTAssertEqual(w.tokenEmbedding.type, .q8_0)
        XCTAssertEqual([w.tokenEmbedding.rows, w.tokenEmbedding.cols], [49152, 576])
        XCTAssertEqual(w.lmHead.rows, 49152)
        let g = try XCTUnwrap(w.gguf)
        XCTAssertEqual(w.metadata["tokenizer.ggml.model"]?.string, "gpt2")
        for (i, l) in w.layers.enumerated() {
            XCTAssertEqual([l.q.rows, l.q.cols, l.k.rows, l.v.rows, l.o.rows], [576, 576, 192, 192, 576])
            XCTAssertEqual([l.gate.rows, l.up.rows, l.down.rows, l.down.cols], [1536, 1536, 576, 1536])
            for (_, m) in l.matrices {
                XCTAssertEqual(m.type, .q4_1)
                XCTAssertTrue(m.storage === g.storage, "layer \(i) matrix is not a view of the map")
            }
        }
        XCTAssertEqual(w.layers[7].attnNorm, try g.floats(named: "blk.7.attn_norm.weight"))
        XCTAssertEqual(w.layers[29].ffnNorm, try g.floats(named: "blk.29.ffn_norm.weight"))
        XCTAssertEqual(w.outputNorm, try g.floats(named: "output_norm.weight"))
        XCTAssertEqual(w.layers[3].k.offset, g.tensorInfo(named: "blk.3.attn_k.weight")?.fileOffset)
    }

    /// Writes a tiny F32 Llama GGUF; `edit` may change keys and tensors before writing.
    private func tinyGGUF(_ dir: String, arch: String = "llama", kShape: [Int]? = nil, skip: String? = nil,
                          blockCount: GGUFValue = .uint32(1), matrixType: GGMLType = .f32, dim: Int = 64,
                          downType: GGMLType? = nil, badScale: UInt16? = nil) throws -> String {
        var rng = TestRNG(seed: 7)
        let w = try GGUFWriter()
        try w.set("general.architecture", .string(arch))
        let hd = 16, heads = dim / hd, kv = heads / 2, ffn = 2 * dim, vocab = 10
        for (k, v) in [("block_count", blockCount), ("embedding_length", .uint32(UInt32(dim))),
                       ("feed_forward_length", .uint32(UInt32(ffn))), ("attention.head_count", .uint32(UInt32(heads))),
                       ("attention.head_count_kv", .uint32(UInt32(kv))), ("context_length", .uint32(128)),
                       ("rope.freq_base", .float32(10000)), ("attention.layer_norm_rms_epsilon", .float32(1e-6))] as [(String, GGUFValue)] {
            try w.set("\(arch).\(k)", v)
        }
        func add(_ name: String, _ dims: [Int], type: GGMLType = .f32) throws {
            if name == skip { return }
            let n = dims.reduce(1, *)
            if type == .f32 {
                let vals = rng.matrix(1, n)
                try w.addTensor(name: name, dims: dims, type: .f32, bytes: vals.withUnsafeBytes { Array($0) })
            } else {
                // Random blocks with finite f16 scales (d, and m / dmin; Q6_K keeps d last).
                var bytes = (0 ..< type.rowBytes(dims[0])! * dims[1]).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
                for b in stride(from: 0, to: bytes.count, by: type.blockBytes) {
                    for o in type.scaleOffsets {
                        let h = FloatConversion.floatToHalf(Float.random(in: -0.02 ... 0.02, using: &rng))
                        bytes[b + o] = UInt8(h & 0xff); bytes[b + o + 1] = UInt8(h >> 8)
                    }
                }
                if let badScale, name == "blk.0.ffn_up.weight" { // block 1 of row 2 (block 0 when a row is one block)
                    let block = dims[0] / type.blockSize > 1 ? 1 : 0
                    let at = 2 * type.rowBytes(dims[0])! + block * type.blockBytes + type.scaleOffsets.last!
                    bytes[at] = UInt8(badScale & 0xff); bytes[at + 1] = UInt8(badScale >> 8)
                }
                try w.addTensor(name: name, dims: dims, type: type, bytes: bytes)
            }
        }
        try add("token_embd.weight", [dim, vocab], type: matrixType)
        try add("output_norm.weight", [dim])
        try add("blk.0.attn_norm.weight", [dim])
        try add("blk.0.ffn_norm.weight", [dim])
        try add("blk.0.attn_q.weight", [dim, dim], type: matrixType)
        try add("blk.0.attn_k.weight", kShape ?? [dim, kv * hd], type: matrixType)
        try add("blk.0.attn_v.weight", [dim, kv * hd], type: matrixType)
        try add("blk.0.attn_output.weight", [dim, dim], type: matrixType)
        try add("blk.0.ffn_gate.weight", [dim, ffn], type: matrixType)
        try add("blk.0.ffn_up.weight", [dim, ffn], type: matrixType)
        try add("blk.0.ffn_down.weight", [ffn, dim], type: downType ?? matrixType)
        let path = dir + "/tiny-\(UUID().uuidString).gguf"
        try w.write(to: path)
        return path
    }

    func testTinyGGUFLoadsAndBadModelsFailClearly() throws {
        let dir = try makeTempDir(self)
        let w = try ModelWeights.load(path: try tinyGGUF(dir))
        XCTAssertEqual(w.config.headCountKV, 2)
        XCTAssertEqual(w.layers[0].k.rows, 32)
        XCTAssertEqual(w.tokenEmbedding.rows, 10)

        func expect(_ path: String, _ needles: [String], line: UInt = #line) {
            XCTAssertThrowsError(try ModelWeights.load(path: path), line: line) { e in
                for n in needles { XCTAssertTrue("\(e)".contains(n), "'\(e)' lacks '\(n)'", line: line) }
            }
        }
        expect(try tinyGGUF(dir, arch: "gpt2"), ["general.architecture is 'gpt2'", "'llama'"])
        expect(try tinyGGUF(dir, kShape: [64, 48]), ["blk.0.attn_k.weight", "[48, 64]", "expected [32, 64]"])
        expect(try tinyGGUF(dir, skip: "blk.0.ffn_norm.weight"), ["missing tensor 'blk.0.ffn_norm.weight'"])
        expect(try tinyGGUF(dir, blockCount: .uint32(2)), ["missing tensor 'blk.1.attn_norm.weight'"])
        expect(try tinyGGUF(dir, blockCount: .int32(-1)), ["llama.block_count", "not a positive integer"])
        expect(dir + "/nope.gguf", ["no such file"])
        expect(dir, ["config.json"])
    }

    /// K-quant and Q5 matrices stay in their blocks, views of the map (no conversion), and dequantize as the
    /// file's bytes do; llama-quantize's Q4_K_M mix (Q4_K with a Q6_K ffn_down, Q5_0 where rows are not of 256).
    func testKQuantAndQ5MatricesStayNative() throws {
        let dir = try makeTempDir(self)
        for (type, down, dim) in [(GGMLType.q4_K, GGMLType.q6_K, 256), (.q5_K, .q5_K, 256), (.q5_0, .q5_1, 64), (.q6_K, .q4_K, 512)] {
            let path = try tinyGGUF(dir, matrixType: type, dim: dim, downType: down)
            let w = try ModelWeights.load(path: path)
            let g = try XCTUnwrap(w.gguf)
            for (name, m, want) in [("blk.0.attn_q.weight", w.layers[0].q, type), ("blk.0.ffn_down.weight", w.layers[0].down, down),
                                    ("token_embd.weight", w.tokenEmbedding, type)] {
                XCTAssertEqual(m.type, want, name)
                XCTAssertTrue(m.storage === g.storage, "\(name) is not a view of the map")
                XCTAssertEqual(m.offset, g.tensorInfo(named: name)?.fileOffset)
                let src = try g.matrix(named: name)
                for r in [0, m.rows - 1] { XCTAssertEqual(try dequantizedRow(src, r), m.dequantizeRow(r), name) }
            }
            let fp = try ModelFootprint.gguf(g)
            XCTAssertTrue(fp.weights.allSatisfy { $0.storage == "mapped" }, "\(fp.weights)")
            XCTAssertEqual(fp.weightBytes, g.tensors.reduce(0) { $0 + $1.byteCount })
        }
    }

    /// A block with an infinite or NaN scale is refused at load, naming the tensor, row and block.
    func testNonFiniteScalesAreRefused() throws {
        let dir = try makeTempDir(self)
        for (type, bits) in [(GGMLType.q4_K, UInt16(0x7c00)), (.q6_K, 0xfe00), (.q5_0, 0x7c01), (.q5_1, 0xfc00), (.q5_K, 0x7e00),
                             (.q4_1, 0x7c00)] {
            let dim = type.isKQuant ? 256 : 64
            let path = try tinyGGUF(dir, matrixType: type, dim: dim, badScale: bits)
            XCTAssertThrowsError(try ModelWeights.load(path: path), "\(type)") { e in
                let block = dim / type.blockSize > 1 ? 1 : 0
                for needle in ["blk.0.ffn_up.weight", "\(type) block \(block) of row 2", "non-finite scale"] {
                    XCTAssertTrue("\(e)".contains(needle), "'\(e)' lacks '\(needle)'")
                }
            }
        }
    }
}
