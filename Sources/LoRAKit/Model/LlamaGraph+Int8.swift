import CKernels

/// The int8 products' planned scratch and which kernel a product runs in int8 precision.
extension LlamaGraph {
    /// Bytes of the int8 products' planned scratch for a graph of `threads` threads (0 unless int8): the quantized
    /// left operand for the largest layer product (T rows summed over C, F or kv) and one W panel per thread. The LM
    /// head never runs in int8 (`productPrecision`).
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

    /// The kernel family a product of W runs in the graph's precision: int8 runs the LM head (as bf16 does: its
    /// products are chunked, and packed once when that fits), types without an int8 path and backward-data summing
    /// over an `out` that is not a multiple of 32 in bf16 (fp32 where bf16 is not native).
    func productPrecision(_ W: QuantizedMatrix, summed out: Int64 = 0) -> ComputePrecision {
        guard precision == .int8 else { return precision }
        let h = head   // the head or a panel of its rows (`headLossByPanels`)
        let isHead = W.storage === h.storage && W.offset >= h.offset && W.offset < h.offset + h.byteCount
        if !isHead, lk_int8_type_supported(lk_type(rawValue: W.type.rawValue)) != 0, out % 32 == 0 { return .int8 }
        return ComputePrecision.bf16IsNative ? .bf16 : .fp32
    }
}
