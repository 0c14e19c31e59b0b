import CKernels

/// Arithmetic of the frozen-weight products (the bulk of a step's work).
public enum ComputePrecision: String, Codable, Sendable, CaseIterable {
    /// Dequantized W and activations in fp32, OpenBLAS sgemm on L2-sized panels.
    case fp32
    /// Activations and dequantized W rounded to bf16, fp32 sums (AVX512-BF16 `vdpbf16ps`); about
    /// 2^-8 relative error per product. On CPUs without AVX512-BF16 this runs a slow scalar kernel.
    case bf16

    /// Whether this CPU runs the bf16 products natively (AVX512-BF16).
    public static var bf16IsNative: Bool { lk_bf16_matmul_native() != 0 }

    /// The precision `lorakit train` picks when none is given: bf16 where it runs natively (measured:
    /// 100 steps on the example config track fp32 within 2.6e-3 relative per step, final validation
    /// loss within 5e-4, at about 2.5× the speed), fp32 elsewhere. The library's own default stays fp32.
    public static var preferred: ComputePrecision { bf16IsNative ? .bf16 : .fp32 }
}
