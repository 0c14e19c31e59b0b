import CKernels

/// The instruction-set level a kernel runs with.
public enum KernelISA: String, Sendable, Codable, CaseIterable {
    case scalar, neon, avx2, avx512

    init(_ isa: lk_isa) {
        switch isa {
        case LK_ISA_AVX512: self = .avx512
        case LK_ISA_AVX2: self = .avx2
        case LK_ISA_NEON: self = .neon
        default: self = .scalar
        }
    }
}

/// What the running CPU supports and which kernels the dispatcher picked.
public struct CPUInfo: Sendable, Codable, Equatable {
    public var avx2: Bool
    public var avx512: Bool
    public var avx512VNNI: Bool
    public var avx512BF16: Bool
    public var neon: Bool
    /// AArch64 dot-product extension (SDOT/UDOT, FEAT_DotProd): the NEON int8 product kernel needs it.
    public var neonDotProd: Bool
    /// Best ISA the CPU supports.
    public var bestISA: KernelISA
    /// ISA the kernels use (the best one unless lowered by `LORAKIT_ISA`).
    public var activeISA: KernelISA

    /// Reads the CPU's features (detected once per process).
    public static var current: CPUInfo {
        let f = lk_cpu_features()
        return CPUInfo(
            avx2: f & UInt32(LK_CPU_AVX2) != 0,
            avx512: f & UInt32(LK_CPU_AVX512) != 0,
            avx512VNNI: f & UInt32(LK_CPU_AVX512_VNNI) != 0,
            avx512BF16: f & UInt32(LK_CPU_AVX512_BF16) != 0,
            neon: f & UInt32(LK_CPU_NEON) != 0,
            neonDotProd: f & UInt32(LK_CPU_NEON_DOTPROD) != 0,
            bestISA: KernelISA(lk_cpu_best_isa()),
            activeISA: KernelISA(lk_active_isa()))
    }

    /// Feature names for display, e.g. `["avx2", "avx512", "avx512-vnni"]`.
    public var featureNames: [String] {
        var n: [String] = []
        if avx2 { n.append("avx2+fma") }
        if avx512 { n.append("avx512") }
        if avx512VNNI { n.append("avx512-vnni") }
        if avx512BF16 { n.append("avx512-bf16") }
        if neon { n.append("neon") }
        if neonDotProd { n.append("neon-dotprod") }
        return n
    }
}
