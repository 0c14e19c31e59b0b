// Instruction-throughput peaks of the running core: what one thread's products could reach at best.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The arithmetic of a product family, measured as the instruction the kernels use.
typedef enum lk_peak_kind {
    LK_PEAK_FP32 = 0,  // fp32 FMA (AVX-512 zmm, AVX2 ymm, NEON fmla): 2 FLOP per lane
    LK_PEAK_BF16 = 1,  // bf16 pair dot products (AVX512-BF16 vdpbf16ps): 2 FLOP per element pair; 0 where not native
    LK_PEAK_INT8 = 2,  // int8 dot products (vpdpbusd zmm; AVX2 vpmaddubsw + vpmaddwd + vpaddd; NEON sdot): 2 OP per byte pair
} lk_peak_kind;

/// Operations per second one thread reaches on `kind` with the ISA the kernels would pick for it: 12 independent
/// accumulator chains of register-only instructions for about `seconds` (≥ 0.01), so the figure is the core's issue
/// limit, not a memory one. 0 when this CPU has no kernel for `kind`.
double lk_peak_ops_per_second(lk_peak_kind kind, double seconds);
/// The instruction measured for `kind` on this CPU ("vpdpbusd zmm", …; "none").
const char *lk_peak_instruction(lk_peak_kind kind);

#ifdef __cplusplus
}
#endif
