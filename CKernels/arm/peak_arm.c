// AArch64 loops of lk_peak_ops_per_second: register-only instructions (inline asm), 12 independent accumulators.
#include "../peak_internal.h"

#if defined(__aarch64__)
#if defined(__clang__)
#define LK_DOTPROD __attribute__((target("dotprod")))
#else
#define LK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define LK_R12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#define LK_CLOBBER12 "v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9", "v10", "v11"

double lk_peak_fp32_neon(int64_t iters) {
    __asm__ volatile("movi v14.4s, #0\n movi v15.4s, #0" ::: "v14", "v15");
    for (int64_t i = 0; i < iters; i++) {
#define LK_F(k) "fmla v" #k ".4s, v14.4s, v15.4s\n"
        __asm__ volatile(LK_R12(LK_F) ::: LK_CLOBBER12);
#undef LK_F
    }
    return (double)iters * 12 * 4 * 2;
}

LK_DOTPROD double lk_peak_int8_neon(int64_t iters) {
    __asm__ volatile("movi v14.4s, #0\n movi v15.4s, #0" ::: "v14", "v15");
    for (int64_t i = 0; i < iters; i++) {
#define LK_F(k) "sdot v" #k ".4s, v14.16b, v15.16b\n"
        __asm__ volatile(LK_R12(LK_F) ::: LK_CLOBBER12);
#undef LK_F
    }
    return (double)iters * 12 * 16 * 2;
}
#endif
