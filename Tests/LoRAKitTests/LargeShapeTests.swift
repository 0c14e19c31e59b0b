import CKernels
import Foundation
import XCTest
@testable import LoRAKit

/// Model-size-dependent paths on shapes that trigger them without an 8B model: a GGUF whose data
/// runs past 4 GB (a sparse file: only the rows the test writes take disk), a matrix of more than
/// 2^32 elements addressed by row, and a vocabulary above 65,535 through the chunked LM-head loss.
final class LargeShapeTests: XCTestCase {
    func tempDir() throws -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-large-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    /// GGUF header bytes: one KV, then tensor infos (name, dims, type, offset).
    static func header(tensors: [(String, [Int], UInt32, UInt64)]) -> [UInt8] {
        var h: [UInt8] = []
        func le<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { h.append(contentsOf: $0) } }
        func str(_ s: String) { le(UInt64(s.utf8.count)); h.append(contentsOf: Array(s.utf8)) }
        h += Array("GGUF".utf8); le(UInt32(3)); le(Int64(tensors.count)); le(Int64(1))
        str("general.name"); le(UInt32(8)); str("sparse > 4 GB")
        for (name, dims, type, off) in tensors {
            str(name); le(UInt32(dims.count)); for d in dims { le(Int64(d)) }; le(type); le(off)
        }
        while h.count % 32 != 0 { h.append(0) }
        return h
    }

    static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at off: Int) throws {
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(off)) }
        guard n == bytes.count else { throw XCTSkip("pwrite at \(off) failed: errno \(errno)") }
    }

    /// Random valid Q4_0 rows (finite fp16 scales) for `rows` rows of `cols`.
    static func randomQ4_0(rows: Int, cols: Int, seed: UInt64) -> [UInt8] {
        let x = SplitMix64.uniformSymmetric(seed: seed, count: rows * cols)
        let rb = cols / 32 * 18
        var out = [UInt8](repeating: 0, count: rows * rb)
        out.withUnsafeMutableBytes { o in
            x.withUnsafeBufferPointer { p in
                for r in 0..<rows { _ = lk_quantize_row(LK_Q4_0, o.baseAddress! + r * rb, p.baseAddress! + r * cols, Int64(cols)) }
            }
        }
        return out
    }

    /// A Q4_0 [2,000,000, 4096] tensor (8.2·10^9 elements, 4.6 GB) followed by an F32 tensor at a data
    /// offset past 2^32, in a sparse file: offsets, row addressing (embedding lookup of the last rows),
    /// a matmul over a view past 4 GB, and the trailing tensor's values all come out right.
    func testGGUFDataPast4GBAndMatrixAbove2To32Elements() throws {
        let dir = try tempDir()
        let rows = 2_000_000, cols = 4096, rb = cols / 32 * 18
        let bigBytes = rows * rb                      // 4,608,000,000
        let tailOffset = bigBytes                     // a multiple of 32
        let tail = SplitMix64.uniformSymmetric(seed: 5, count: 64)
        let h = Self.header(tensors: [("big", [cols, rows], 2, 0), ("tail", [64], 0, UInt64(tailOffset))])
        let path = dir + "/sparse.gguf"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        let total = h.count + tailOffset + 64 * 4
        guard ftruncate(fd, off_t(total)) == 0 else { throw XCTSkip("cannot make a \(total)-byte sparse file here") }
        try Self.pwriteAll(fd, h, at: 0)
        // Rows 0..<64, the last 64 rows, and the tail tensor carry data; the rest is a hole (zeros).
        let first = Self.randomQ4_0(rows: 64, cols: cols, seed: 1), last = Self.randomQ4_0(rows: 64, cols: cols, seed: 2)
        try Self.pwriteAll(fd, first, at: h.count)
        try Self.pwriteAll(fd, last, at: h.count + (rows - 64) * rb)
        try Self.pwriteAll(fd, tail.withUnsafeBytes { Array($0) }, at: h.count + tailOffset)

        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.fileSize, total)
        let ti = try XCTUnwrap(f.tensorInfo(named: "tail"))
        XCTAssertGreaterThan(ti.fileOffset, 1 << 32)
        XCTAssertEqual(ti.fileOffset, h.count + 4_608_000_000)
        XCTAssertEqual(try f.floats(named: "tail"), tail)
        let m = try f.matrix(named: "big")
        XCTAssertEqual(m.rows, rows)
        XCTAssertEqual(m.byteCount, bigBytes)
        XCTAssertGreaterThan(m.rows * m.cols, 1 << 32)

        // Embedding lookup by id: ids × row bytes past 2^32 (and an id past 2^20 ≥ 65,536 rows).
        let ids: [Int32] = [Int32(rows - 1), 3, Int32(rows - 64), Int32(rows - 2), 0]
        var got = [Float](repeating: .nan, count: ids.count * cols)
        let pool = ThreadPool(threads: 2)
        m.withUnsafeBytes { w in
            got.withUnsafeMutableBufferPointer { o in
                lk_embed_rows(pool.raw, o.baseAddress!, Int32(m.type.rawValue), w, Int64(m.rowBytes), ids, Int64(ids.count), Int64(cols))
            }
        }
        for (i, id) in ids.enumerated() {
            let src = Int(id) >= rows - 64 ? Array(last[(Int(id) - (rows - 64)) * rb ..< (Int(id) - (rows - 64) + 1) * rb])
                                           : Array(first[Int(id) * rb ..< (Int(id) + 1) * rb])
            var want = [Float](repeating: 0, count: cols)
            src.withUnsafeBytes { s in want.withUnsafeMutableBufferPointer { lk_dequantize_row_ref(LK_Q4_0, $0.baseAddress!, s.baseAddress!, Int64(cols)) } }
            XCTAssertEqual(Array(got[i * cols ..< (i + 1) * cols]), want, "row \(id)")
        }

        // Matmul on a view of the last 64 rows (byte offset > 4 GB) vs the scalar reference on the bytes written.
        let view = try XCTUnwrap(QuantizedMatrix(type: .q4_0, rows: 64, cols: cols, storage: m.storage,
                                                 offset: m.offset + (rows - 64) * rb))
        XCTAssertGreaterThan(view.offset, 1 << 32)
        let T = 5
        let x = SplitMix64.uniformSymmetric(seed: 9, count: T * cols)
        var y = [Float](repeating: 0, count: T * 64), yRef = y
        view.withUnsafeBytes { w in
            lk_qmatmul_fwd(pool.raw, nil, &y, 64, x, Int64(cols), LK_Q4_0, w, 64, Int64(cols), Int64(T), 0)
        }
        last.withUnsafeBytes { lk_qmatmul_fwd_ref(&yRef, 64, x, Int64(cols), LK_Q4_0, $0.baseAddress!, 64, Int64(cols), Int64(T)) }
        for i in 0..<y.count { XCTAssertEqual(y[i], yRef[i], accuracy: 1e-3 * max(1, abs(yRef[i])), "\(i)") }
    }

    /// A vocabulary above 65,535 (70,003: ragged, not a power of two) through the graph: the chunked LM
    /// head scores targets ≥ 65,536 exactly as log-softmax of the full logits does, across chunk edges,
    /// and a training step gives finite gradients.
    func testVocabAbove65535ThroughChunkedLoss() throws {
        let dir = try tempDir()
        var c = ModelPreset.llama32_1b.config
        c.blockCount = 2; c.embeddingLength = 64; c.feedForwardLength = 96; c.headCount = 4; c.headCountKV = 2
        c.vocabSize = 70_003; c.tiedEmbeddings = false
        try SynthModel.write(SynthOptions(config: c, type: .q8_0, seed: 21, weightStd: 0.2), to: dir + "/v.gguf")
        let w = try ModelWeights.load(path: dir + "/v.gguf")
        XCTAssertEqual(w.config.vocabSize, 70_003)
        let B = 1, S = 9
        let tokens: [Int32] = [70_002, 65_535, 65_536, 1, 69_999, 12_345, 65_537, 0, 70_001]
        let targets: [Int32] = [65_536, 70_002, -1, 65_535, 0, 69_998, 70_002, 70_000, 66_000]
        let pool = ThreadPool(threads: 2)
        let lora = try LoRAParameters(config: LoRAConfig(rank: 4, alpha: 8, targets: LoRATarget.allCases, seed: 1), model: w.config)
        // 2 rows per logits chunk: chunks of 2·V floats, 5 of them over T = 9.
        let g = LlamaGraph(weights: w, lora: lora, batch: B, sequence: S, training: true, checkpointing: true,
                           pool: pool, logitChunkBytes: 2 * 70_003 * 4)
        XCTAssertEqual(g.chunkRows, 2)
        g.setBatch(tokens: tokens, targets: targets)
        let logits = g.computeLogits()
        var want = 0.0, n = 0
        for t in 0..<S where targets[t] >= 0 && Int(targets[t]) < c.vocabSize {
            let row = logits[t * c.vocabSize ..< (t + 1) * c.vocabSize].map(Double.init)
            let mx = row.max()!
            let lse = mx + log(row.reduce(0.0) { $0 + exp($1 - mx) })
            want += lse - row[Int(targets[t])]
            n += 1
        }
        XCTAssertEqual(n, 8)
        let got = g.run(backward: true, gradScale: 1 / Float(n))
        XCTAssertEqual(got.count, n)
        XCTAssertEqual(got.sum, want, accuracy: 1e-4 * abs(want))
        XCTAssertGreaterThan(want / Double(n), 1)
        let grads = g.grads.array()
        XCTAssertTrue(grads.allSatisfy(\.isFinite))
        XCTAssertTrue(grads.contains { $0 != 0 })
    }

    /// Token ids past the model's vocabulary (a tokenizer larger than the embedding) are refused by the
    /// trainer with an error naming the file and line, instead of reading past the embedding table.
    func testTrainerRefusesTokenIDsOutsideTheVocabulary() throws {
        let dir = try tempDir()
        var c = ModelPreset.llama32_1b.config
        c.blockCount = 1; c.embeddingLength = 64; c.feedForwardLength = 64; c.headCount = 2; c.headCountKV = 1; c.vocabSize = 300
        try SynthModel.write(SynthOptions(config: c, type: .q8_0, seed: 2), to: dir + "/m.gguf")
        let w = try ModelWeights.load(path: dir + "/m.gguf")
        try Data("{\"text\": \"Veloria has two moons.\"}\n".utf8).write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        let tok = try Tokenizer(modelPath: SynthModelTests.llama3TokenizerPath)
        let data = try TrainingData(path: dir + "/train.jsonl", tokenizer: tok, options: DatasetOptions())
        var cfg = TrainingConfig()
        cfg.sequenceLength = 16; cfg.steps = 1; cfg.batchSize = 1
        let trainer = try LoRATrainer(model: w, config: cfg)
        XCTAssertThrowsError(try trainer.train(data)) { e in
            guard case TrainingError.modelMismatch(let m) = e else { return XCTFail("\(e)") }
            XCTAssertTrue(m.contains("line 1") && m.contains("vocabulary of 300"), m)
        }
        XCTAssertThrowsError(try trainer.evaluate(data.train))
    }

    /// The 8B plan keeps the [chunk, 128,256] logits at 16 MB (32 rows) whatever the sequence, and its
    /// largest buffers stay far below 2^31 elements.
    func testLlama31_8BPlanBuffers() {
        let c = ModelPreset.llama31_8b.config
        let lora = LoRAConfig(rank: 16, alpha: 32, targets: LoRATarget.allCases, seed: 0)
        for S in [256, 2048] {
            let p = LlamaGraph.plan(config: c, lora: lora, loraCount: 41_943_040, batch: 1, sequence: S, training: true,
                                    checkpointing: true, threads: 2)
            XCTAssertEqual(p.chunkRows, 32)
            XCTAssertEqual(p.head, (S * 4096 + S + 32 * 128_256 + 5 * S) * 4)   // + the vocabulary-panel loss statistics
            XCTAssertEqual(p.activationSets, 1)
            XCTAssertLessThan(p.total / 4, Int(Int32.max))   // every buffer together, in floats
        }
    }
}
