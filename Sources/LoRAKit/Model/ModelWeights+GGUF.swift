import CKernels
import Foundation

extension ModelWeights {
    /// Builds the weights of a GGUF Llama model: matrices view the map, K-quants become Q8_0.
    static func loadGGUF(_ f: GGUFFile) throws -> ModelWeights {
        let c = try LlamaConfig(gguf: f)
        let dim = c.embeddingLength, kvDim = c.kvDim, ffn = c.feedForwardLength
        func mat(_ name: String, rows: Int, cols: Int) throws -> QuantizedMatrix {
            let m = try f.matrix(named: name)
            try check(m, name, rows: rows, cols: cols, path: f.path)
            return m.type.isComputeType ? m : try requantize(m, to: .q8_0, name: name, path: f.path)
        }
        func vec(_ name: String, _ n: Int) throws -> [Float] {
            guard let t = f.tensorInfo(named: name) else { throw FormatError.missing(path: f.path, what: "tensor '\(name)'") }
            guard t.dims == [n] else { throw FormatError.shapeMismatch(path: f.path, tensor: name, expected: [n], actual: t.dims) }
            return try f.floats(named: name)
        }
        var layers: [LayerWeights] = []
        layers.reserveCapacity(c.blockCount)
        for i in 0 ..< c.blockCount {
            let p = "blk.\(i)."
            layers.append(LayerWeights(
                attnNorm: try vec(p + "attn_norm.weight", dim), ffnNorm: try vec(p + "ffn_norm.weight", dim),
                q: try mat(p + "attn_q.weight", rows: dim, cols: dim),
                k: try mat(p + "attn_k.weight", rows: kvDim, cols: dim),
                v: try mat(p + "attn_v.weight", rows: kvDim, cols: dim),
                o: try mat(p + "attn_output.weight", rows: dim, cols: dim),
                gate: try mat(p + "ffn_gate.weight", rows: ffn, cols: dim),
                up: try mat(p + "ffn_up.weight", rows: ffn, cols: dim),
                down: try mat(p + "ffn_down.weight", rows: dim, cols: ffn)))
        }
        let emb = try mat("token_embd.weight", rows: c.vocabSize, cols: dim)
        let out = c.tiedEmbeddings ? nil : try mat("output.weight", rows: c.vocabSize, cols: dim)
        let freqs = f.tensorInfo(named: "rope_freqs.weight") == nil ? nil : try vec("rope_freqs.weight", c.headDim / 2)
        return ModelWeights(config: c, tokenEmbedding: emb, outputNorm: try vec("output_norm.weight", dim), output: out,
                            ropeFreqFactors: freqs, layers: layers,
                            source: ModelSource(path: f.path, format: .gguf, quantizedTo: nil), gguf: f)
    }

    /// Dequantizes each row of `m` and quantizes it again as `type` into owned bytes.
    static func requantize(_ m: QuantizedMatrix, to type: GGMLType, name: String, path: String) throws -> QuantizedMatrix {
        guard let rb = type.rowBytes(m.cols) else {
            throw FormatError.badTensor(path: path, tensor: name, message: "rows of \(m.cols) cannot be stored as \(type)")
        }
        let srcRB = m.rowBytes, cols = m.cols
        let storage = try ByteStorage.allocate(count: rb * m.rows) { dst in
            try m.withUnsafeBytes { src in
                try RowCodec.parallelRows(m.rows) { r0, r1 in
                    var buf = [Float](repeating: 0, count: cols)
                    for r in r0 ..< r1 {
                        try buf.withUnsafeMutableBufferPointer { b in
                            try RowCodec.dequantize(m.type, b.baseAddress!, src + r * srcRB, cols)
                            try RowCodec.quantize(type, dst + r * rb, b.baseAddress!, cols, path: path, tensor: name)
                        }
                    }
                }
            }
        }
        guard let q = QuantizedMatrix(type: type, rows: m.rows, cols: cols, storage: storage, offset: 0) else {
            throw FormatError.badTensor(path: path, tensor: name, message: "cannot hold \(m.rows)×\(cols) as \(type)")
        }
        return q
    }
}

/// Row conversion through the C kernels (`lk_dequantize_row` / `lk_quantize_row`).
enum RowCodec {
    /// y: [n] ← one row of `t` at x (n a multiple of the block size; checked by the callers).
    static func dequantize(_ t: GGMLType, _ y: UnsafeMutablePointer<Float>, _ x: UnsafeRawPointer, _ n: Int) throws {
        lk_dequantize_row(lk_type(rawValue: t.rawValue), y, x, Int64(n))
    }

    /// One row of `t` at y ← x: [n].
    static func quantize(_ t: GGMLType, _ y: UnsafeMutableRawPointer, _ x: UnsafePointer<Float>, _ n: Int,
                         path: String, tensor: String) throws {
        let rc = lk_quantize_row(lk_type(rawValue: t.rawValue), y, x, Int64(n))
        guard rc == 0 else {
            throw FormatError.unsupported(path: path, message: "quantizing tensor '\(tensor)' to \(t) failed (lk_quantize_row returned \(rc))")
        }
    }

    /// Runs `body` over row ranges in parallel (a few chunks per core).
    static func parallelRows(_ rows: Int, _ body: (Int, Int) throws -> Void) throws {
        let chunks = max(1, min(rows / 16, ProcessInfo.processInfo.activeProcessorCount * 4))
        if chunks == 1 { try body(0, rows); return }
        let errors = ErrorBox()
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            do { try body(rows * c / chunks, rows * (c + 1) / chunks) } catch { errors.set(error) }
        }
        if let e = errors.first { throw e }
    }

    final class ErrorBox: @unchecked Sendable {
        private let lock = NSLock()
        private var e: Error?
        func set(_ error: Error) { lock.lock(); if e == nil { e = error }; lock.unlock() }
        var first: Error? { lock.lock(); defer { lock.unlock() }; return e }
    }
}
