import CKernels
import Foundation

/// A frozen matrix packed once into bf16 pairs for `lk_matmul_*_bf16_packed` (forward or backward layout).
final class BF16PackedMatrix {
    let ptr: UnsafeMutablePointer<UInt32>
    let bytes: Int

    /// Packs `W`; nil when the memory cannot be had or the kernel refuses the matrix.
    init?(_ W: QuantizedMatrix, backward: Bool, pool: ThreadPool) {
        let out = Int64(W.rows), inF = Int64(W.cols)
        let n = Int(lk_bf16_packed_bytes(out, inF, backward ? 1 : 0))
        guard n > 0, let raw = malloc(n) else { return nil }
        ptr = raw.bindMemory(to: UInt32.self, capacity: n / 4)
        bytes = n
        let rc = W.withUnsafeBytes { w in
            lk_bf16_pack_weights(pool.raw, ptr, lk_type(rawValue: W.type.rawValue), w, out, inF, backward ? 1 : 0)
        }
        if rc != 0 { free(raw); return nil }
    }

    deinit { free(ptr) }
}

/// The LM head is multiplied chunk by chunk of rows (`chunkRows`, bounded by the logits buffer), so the
/// bf16 products would dequantize and round the whole head once per chunk. In bf16 the graph packs it
/// once instead (forward layout, plus the backward one when training) when that fits `bf16HeadPackLimit`
/// and the run has not asked for least memory (checkpointing): the packed products give bitwise the same
/// numbers as the unpacked ones. Measured on SmolLM2 (batch 4 × seq 256, 2 threads): packing once makes
/// the head's forward + backward ≈ 180 ms instead of ≈ 250 ms per step, for 113 MB.
extension LlamaGraph {
    /// Largest packed head (both layouts together) the graph keeps; larger heads are packed per chunk.
    static let bf16HeadPackLimit = 512 << 20

    /// Bytes of the packed head of a graph in `precision` (0 for fp32, above the limit, or when
    /// training with checkpointing, which trades speed for memory).
    static func bf16HeadBytes(config c: LlamaConfig, training: Bool, precision: ComputePrecision,
                              checkpointing: Bool = false) -> Int {
        guard precision == .bf16, !(training && checkpointing) else { return 0 }
        let V = Int64(c.vocabSize), C = Int64(c.embeddingLength)
        let n = Int(lk_bf16_packed_bytes(V, C, 0)) + (training ? Int(lk_bf16_packed_bytes(V, C, 1)) : 0)
        return n <= bf16HeadPackLimit ? n : 0
    }

    /// Packs (bf16) or drops (fp32) the head after a precision change.
    func updateBF16Head() {
        guard LlamaGraph.bf16HeadBytes(config: config, training: training, precision: precision, checkpointing: checkpointing) > 0 else {
            bf16Head = []
            return
        }
        guard bf16Head.isEmpty else { return }
        guard let f = BF16PackedMatrix(head, backward: false, pool: pool) else { return }
        if training {
            guard let b = BF16PackedMatrix(head, backward: true, pool: pool) else { return }
            bf16Head = [f, b]
        } else {
            bf16Head = [f]
        }
    }

    /// Bytes of the bf16 products' planned scratch for a graph of `threads` threads (0 in fp32): the left
    /// operand as bf16 pairs for the largest product — T rows of a layer (summed over C or F), or a logits
    /// chunk through the head (summed over C forward, V backward when training) — and one W panel per thread.
    static func bf16ScratchBytes(config c: LlamaConfig, rows T: Int, chunkRows: Int, training: Bool, threads: Int,
                                 precision: ComputePrecision) -> Int {
        guard precision == .bf16 else { return 0 }
        let layers = lk_bf16_scratch_bytes(Int32(threads), Int64(T), Int64(max(c.embeddingLength, c.feedForwardLength, c.kvDim, c.qDim)))
        let head = lk_bf16_scratch_bytes(Int32(threads), Int64(chunkRows), Int64(training ? max(c.vocabSize, c.embeddingLength) : c.embeddingLength))
        return max(layers, head)
    }

    /// Allocates (bf16) or frees (fp32) the planned scratch after a precision change.
    func updateBF16Scratch() {
        let n = LlamaGraph.bf16ScratchBytes(config: config, rows: T, chunkRows: shape.chunkRows, training: training,
                                            threads: pool.threads, precision: precision)
        guard n != bf16ScratchAllocated else { return }
        bf16Scratch?.deallocate()
        bf16Scratch = n > 0 ? UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64) : nil
        bf16ScratchAllocated = n
    }

    /// Bytes held by the packed head.
    var bf16HeadBytesAllocated: Int { bf16Head.reduce(0) { $0 + $1.bytes } }

    /// logits[rows, V] = x[rows, C]·headᵀ in the graph's precision.
    func headForward(y: UnsafeMutablePointer<Float>, ldy: Int64, x: UnsafePointer<Float>, ldx: Int64, rows: Int64) {
        if precision == .bf16, let p = bf16Head.first {
            lk_matmul_fwd_bf16_packed(pool.raw, bf16Scratch, y, ldy, x, ldx, p.ptr, Int64(head.rows), Int64(head.cols), rows, 0)
        } else {
            frozenForward(head, y: y, ldy: ldy, x: x, ldx: ldx, rows: rows)
        }
    }

    /// dx[rows, C] = dlogits[rows, V]·head in the graph's precision.
    func headBackwardData(dx: UnsafeMutablePointer<Float>, lddx: Int64, dy: UnsafePointer<Float>, lddy: Int64, rows: Int64) {
        if precision == .bf16, bf16Head.count == 2 {
            lk_matmul_bwd_data_bf16_packed(pool.raw, bf16Scratch, dx, lddx, dy, lddy, bf16Head[1].ptr, Int64(head.rows), Int64(head.cols), rows, 0)
        } else {
            frozenBackwardData(head, dx: dx, lddx: lddx, dy: dy, lddy: lddy, rows: rows, accumulate: false)
        }
    }
}
