import CKernels
import Foundation

extension ModelWeights {
    /// Builds the weights of a GGUF Llama model: matrices view the map in their own block type (K-quants and
    /// Q5 blocks included); every block's fp16 scales are checked to be finite.
    static func loadGGUF(_ f: GGUFFile) throws -> ModelWeights {
        let c = try LlamaConfig(gguf: f)
        let dim = c.embeddingLength, kvDim = c.kvDim, ffn = c.feedForwardLength
        func mat(_ name: String, rows: Int, cols: Int) throws -> QuantizedMatrix {
            let m = try f.matrix(named: name)
            try check(m, name, rows: rows, cols: cols, path: f.path)
            try checkScales(m, name: name, path: f.path)
            return m
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
                q: try mat(p + "attn_q.weight", rows: c.qDim, cols: dim),
                k: try mat(p + "attn_k.weight", rows: kvDim, cols: dim),
                v: try mat(p + "attn_v.weight", rows: kvDim, cols: dim),
                o: try mat(p + "attn_output.weight", rows: dim, cols: c.qDim),
                gate: try mat(p + "ffn_gate.weight", rows: ffn, cols: dim),
                up: try mat(p + "ffn_up.weight", rows: ffn, cols: dim),
                down: try mat(p + "ffn_down.weight", rows: dim, cols: ffn),
                qBias: c.attentionBias ? try vec(p + "attn_q.bias", c.qDim) : nil,
                kBias: c.attentionBias ? try vec(p + "attn_k.bias", kvDim) : nil,
                vBias: c.attentionBias ? try vec(p + "attn_v.bias", kvDim) : nil,
                qNorm: c.qkNorm ? try vec(p + "attn_q_norm.weight", c.headDim) : nil,
                kNorm: c.qkNorm ? try vec(p + "attn_k_norm.weight", c.headDim) : nil,
                postAttentionNorm: c.postNorms ? try vec(p + "post_attention_norm.weight", dim) : nil,
                postFFNNorm: c.postNorms ? try vec(p + "post_ffw_norm.weight", dim) : nil))
        }
        let emb = try mat("token_embd.weight", rows: c.vocabSize, cols: dim)
        let out = c.tiedEmbeddings ? nil : try mat("output.weight", rows: c.vocabSize, cols: dim)
        let freqs = f.tensorInfo(named: "rope_freqs.weight") == nil ? nil : try vec("rope_freqs.weight", c.headDim / 2)
        return ModelWeights(config: c, tokenEmbedding: emb, outputNorm: try vec("output_norm.weight", dim), output: out,
                            ropeFreqFactors: freqs, layers: layers,
                            source: ModelSource(path: f.path, format: .gguf, quantizedTo: nil), gguf: f)
    }

    /// Throws when a block of `m` has a non-finite fp16 scale (d, m or dmin: an exponent of all ones), naming the
    /// tensor, row and block. Such a block would turn every product it enters into NaN.
    static func checkScales(_ m: QuantizedMatrix, name: String, path: String) throws {
        let offsets = m.type.scaleOffsets, bb = m.type.blockBytes, rb = m.rowBytes
        guard !offsets.isEmpty, rb > 0 else { return }
        let bad: (row: Int, block: Int, bits: UInt16)? = m.withUnsafeBytes { base in
            for r in 0 ..< m.rows {
                let row = base + r * rb
                for b in stride(from: 0, to: rb, by: bb) {
                    for o in offsets {
                        let bits = UInt16(row.load(fromByteOffset: b + o + 1, as: UInt8.self)) << 8
                            | UInt16(row.load(fromByteOffset: b + o, as: UInt8.self))
                        if bits & 0x7c00 == 0x7c00 { return (r, b / bb, bits) }
                    }
                }
            }
            return nil
        }
        if let bad {
            let v = Float(Float16(bitPattern: bad.bits))
            throw FormatError.badTensor(path: path, tensor: name,
                                        message: "\(m.type) block \(bad.block) of row \(bad.row) has a non-finite scale (\(v))")
        }
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
