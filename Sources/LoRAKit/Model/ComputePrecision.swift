import CKernels

/// Arithmetic of the frozen-weight products (the bulk of a step's work).
public enum ComputePrecision: String, Codable, Sendable, CaseIterable {
    /// Dequantized W and activations in fp32, OpenBLAS sgemm on L2-sized panels.
    case fp32
    /// Activations and dequantized W rounded to bf16, fp32 sums (AVX512-BF16 `vdpbf16ps`); about
    /// 2^-8 relative error per product. On CPUs without AVX512-BF16 this runs a slow scalar kernel.
    case bf16
    /// The layers' products on integers: activations (backward: incoming gradients) and W (dequantized from its
    /// blocks a panel at a time) quantized per group of 256 along the summed dimension to int8 with an fp32 scale,
    /// exact int32 group sums scaled and summed in fp32 (AVX512-VNNI `vpdpbusd`, AVX2 elsewhere).
    /// Weight types without an int8 path (F32, F16, BF16) and the LM head run as in `bf16` (fp32 where bf16 is
    /// not native). See `lk_matmul_int8.h` for the error bound.
    case int8

    /// Whether this CPU runs the bf16 products natively (AVX512-BF16).
    public static var bf16IsNative: Bool { lk_bf16_matmul_native() != 0 }
    /// Whether this CPU runs the int8 products with a SIMD kernel (AVX512-VNNI, AVX2 or NEON dot product).
    public static var int8IsNative: Bool { lk_int8_matmul_native() != 0 }

    /// Whether products outside the int8 path (the LM head, weight types without one) use the bf16 kernels.
    var usesBF16Products: Bool { self == .bf16 || (self == .int8 && ComputePrecision.bf16IsNative) }

    /// The precision `lorakit train` picks when none is given: bf16 where it runs natively (measured:
    /// 100 steps on the example config track fp32 within 2.6e-3 relative per step, final validation
    /// loss within 5e-4, at about 2.5× the speed), fp32 elsewhere. The library's own default stays fp32.
    public static var preferred: ComputePrecision { bf16IsNative ? .bf16 : .fp32 }
}
