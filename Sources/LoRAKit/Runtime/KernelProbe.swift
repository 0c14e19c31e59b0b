import CKernels

/// Small entry points into the kernels for benchmarks and diagnostics.
public enum KernelProbe {
    /// fp32 dot product through the dispatched kernel.
    public static func dot(_ a: [Float], _ b: [Float]) -> Float {
        let n = min(a.count, b.count)
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in n == 0 ? 0 : lk_dot_f32(pa.baseAddress!, pb.baseAddress!, n) }
        }
    }
}
