// AArch64 loops of lk_peak_ops_per_second: register-only instructions, 12 independent accumulators per iteration,
// each loop one asm block (operands zeroed, then the counted loop; see x86/peak_x86.c).
#include "../peak_internal.h"

#if defined(__aarch64__)
#if defined(__clang__)
#define LK_DOTPROD __attribute__((target("dotprod")))
#else
#define LK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define LK_R12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
// name(iters): `body` (the 12 accumulator instructions) `iters` times; returns iters × ops_per_iter.
#define LK_PEAK_LOOP(attr, name, body, ops_per_iter)                                                                 \
    attr double name(int64_t iters) {                                                                                \
        if (iters <= 0) return 0;                                                                                    \
        int64_t n = iters;                                                                                           \
        __asm__ volatile("movi v14.4s, #0\n movi v15.4s, #0\n1:\n" body "subs %0, %0, #1\n b.ne 1b\n"              \
                         : "+r"(n)::"cc", "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11", \
                           "v14", "v15");                                                                          \
        return (double)iters * (ops_per_iter);                                                                       \
    }

#define LK_FMLA(k) "fmla v" #k ".4s, v14.4s, v15.4s\n"
#define LK_SDOT(k) "sdot v" #k ".4s, v14.16b, v15.16b\n"

LK_PEAK_LOOP(, lk_peak_fp32_neon, LK_R12(LK_FMLA), 12 * 4 * 2)
LK_PEAK_LOOP(LK_DOTPROD, lk_peak_int8_neon, LK_R12(LK_SDOT), 12 * 16 * 2)
#endif
