import CKernels

/// LoRAKit: LoRA fine-tuning of Llama-family models on CPUs, with the frozen base kept in
/// quantized blocks and dequantized on the fly by SIMD kernels.
public enum LoRAKit {
    /// Semantic version of the library and the `lorakit` CLI.
    public static let version = "0.1.0"
}
