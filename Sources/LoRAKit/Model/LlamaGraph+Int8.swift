import CKernels

/// The int8 products' planned scratch and which kernel a product runs in int8 precision.
extension LlamaGraph {
    /// Bytes of the int8 products' planned scratch for a graph of `threads` threads (0 unless int8): the quantized
    /// left operand for the largest layer product (T rows summed over C, F or kv) and one W panel per thread. The LM
    /// head's vocabulary panels (at most that wide, `vocabPanelRows`) fit the same bound.
    static func int8ScratchBytes(config c: LlamaConfig, rows T: Int, threads: Int, precision: ComputePrecision) -> Int {
        guard precision == .int8 else { return 0 }
        return lk_int8_scratch_bytes(Int32(threads), Int64(T), Int64(max(c.embeddingLength, c.feedForwardLength, c.kvDim, c.qDim)))
    }

    /// Allocates (int8) or frees (other precisions) the planned scratch after a precision change.
    func updateInt8Scratch() {
        let n = LlamaGraph.int8ScratchBytes(config: config, rows: T, threads: pool.threads, precision: precision)
        guard n != int8ScratchAllocated else { return }
        int8Scratch?.deallocate()
        int8Scratch = n > 0 ? UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 64) : nil
        int8ScratchAllocated = n
    }

    /// The kernel family a product of W runs in the graph's precision: int8 runs the whole LM head in bf16 (its row
    /// chunks would requantize all of it per chunk; packed once in bf16 when that fits) but a vocabulary panel of it
    /// (`headLossByPanels`: all T rows against P head rows, quantized once) in int8; types without an int8 path and
    /// backward-data summing over an `out` that is not a multiple of 32 in bf16 (fp32 where bf16 is not native).
    func productPrecision(_ W: QuantizedMatrix, summed out: Int64 = 0) -> ComputePrecision {
        guard precision == .int8 else { return precision }
        let h = head
        let wholeHead = W.storage === h.storage && W.offset == h.offset && W.rows == h.rows
        if !wholeHead, lk_int8_type_supported(lk_type(rawValue: W.type.rawValue)) != 0, out % 32 == 0 { return .int8 }
        return ComputePrecision.bf16IsNative ? .bf16 : .fp32
    }
}
