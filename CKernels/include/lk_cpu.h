// CPU feature detection and kernel dispatch.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Instruction-set levels a kernel can be built for, lowest first.
typedef enum lk_isa {
    LK_ISA_SCALAR = 0,
    LK_ISA_NEON = 1,    // AArch64 Advanced SIMD
    LK_ISA_AVX2 = 2,    // AVX2 + FMA + F16C
    LK_ISA_AVX512 = 3,  // AVX-512 F/BW/VL/DQ
} lk_isa;

/// CPU feature bits, detected once.
enum {
    LK_CPU_AVX2 = 1u << 0,        // AVX2 + FMA + F16C (and OS support for YMM state)
    LK_CPU_AVX512 = 1u << 1,      // AVX-512 F, BW, VL, DQ (and OS support for ZMM state)
    LK_CPU_AVX512_VNNI = 1u << 2,
    LK_CPU_AVX512_BF16 = 1u << 3,
    LK_CPU_NEON = 1u << 4,
    LK_CPU_NEON_DOTPROD = 1u << 5, // AArch64 SDOT/UDOT (FEAT_DotProd, Armv8.2+; Linux HWCAP_ASIMDDP)
};

/// Bitmask of LK_CPU_* features of the running CPU.
uint32_t lk_cpu_features(void);
/// Best ISA level the CPU supports.
lk_isa lk_cpu_best_isa(void);
/// 1 when kernels for `isa` can run on this CPU.
int lk_isa_supported(lk_isa isa);
/// Human-readable name of an ISA level ("scalar", "neon", "avx2", "avx512").
const char *lk_isa_name(lk_isa isa);
/// The ISA level the dispatcher picked: the best supported one, lowered by the
/// environment variable LORAKIT_ISA (scalar|neon|avx2|avx512) when set. Fixed after first call.
lk_isa lk_active_isa(void);

#ifdef __cplusplus
}
#endif
