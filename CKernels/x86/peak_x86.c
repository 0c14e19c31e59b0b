// x86 loops of lk_peak_ops_per_second: register-only instructions (inline asm, so nothing is folded away), 12
// independent accumulators per iteration.
#include "../peak_internal.h"

#if defined(__x86_64__)
#define LK_R12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#define LK_CLOBBER12 "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11"

__attribute__((target("avx512f"))) double lk_peak_fp32_avx512(int64_t iters) {
    __asm__ volatile("vxorps %%xmm14, %%xmm14, %%xmm14\n vxorps %%xmm15, %%xmm15, %%xmm15" ::: "xmm14", "xmm15");
    for (int64_t i = 0; i < iters; i++) {
#define LK_F(k) "vfmadd231ps %%zmm14, %%zmm15, %%zmm" #k "\n"
        __asm__ volatile(LK_R12(LK_F) ::: LK_CLOBBER12);
#undef LK_F
    }
    return (double)iters * 12 * 16 * 2;
}

__attribute__((target("avx2,fma"))) double lk_peak_fp32_avx2(int64_t iters) {
    __asm__ volatile("vxorps %%xmm14, %%xmm14, %%xmm14\n vxorps %%xmm15, %%xmm15, %%xmm15" ::: "xmm14", "xmm15");
    for (int64_t i = 0; i < iters; i++) {
#define LK_F(k) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #k "\n"
        __asm__ volatile(LK_R12(LK_F) ::: LK_CLOBBER12);
#undef LK_F
    }
    return (double)iters * 12 * 8 * 2;
}

__attribute__((target("avx512f,avx512bf16"))) double lk_peak_bf16_avx512(int64_t iters) {
    __asm__ volatile("vxorps %%xmm14, %%xmm14, %%xmm14\n vxorps %%xmm15, %%xmm15, %%xmm15" ::: "xmm14", "xmm15");
    for (int64_t i = 0; i < iters; i++) {
#define LK_F(k) "vdpbf16ps %%zmm14, %%zmm15, %%zmm" #k "\n"
        __asm__ volatile(LK_R12(LK_F) ::: LK_CLOBBER12);
#undef LK_F
    }
    return (double)iters * 12 * 32 * 2;
}

__attribute__((target("avx512f,avx512vnni"))) double lk_peak_int8_vnni(int64_t iters) {
    __asm__ volatile("vpxor %%xmm14, %%xmm14, %%xmm14\n vpxor %%xmm15, %%xmm15, %%xmm15" ::: "xmm14", "xmm15");
    for (int64_t i = 0; i < iters; i++) {
#define LK_F(k) "vpdpbusd %%zmm14, %%zmm15, %%zmm" #k "\n"
        __asm__ volatile(LK_R12(LK_F) ::: LK_CLOBBER12);
#undef LK_F
    }
    return (double)iters * 12 * 64 * 2;
}

// The AVX2 int8 kernel's step: vpmaddubsw (32 byte pairs → 16 s16), vpmaddwd with ones (→ 8 s32), vpaddd; 6 chains
// of the three (the 12 registers hold a product and an accumulator each).
__attribute__((target("avx2"))) double lk_peak_int8_avx2(int64_t iters) {
    __asm__ volatile("vpxor %%xmm13, %%xmm13, %%xmm13\n vpxor %%xmm14, %%xmm14, %%xmm14\n vpxor %%xmm15, %%xmm15, %%xmm15" :::
                     "xmm13", "xmm14", "xmm15");
    for (int64_t i = 0; i < iters; i++) {
#define LK_F(a, b) "vpmaddubsw %%ymm14, %%ymm15, %%ymm" #a "\n vpmaddwd %%ymm13, %%ymm" #a ", %%ymm" #a "\n vpaddd %%ymm" #a ", %%ymm" #b ", %%ymm" #b "\n"
        __asm__ volatile(LK_F(0, 1) LK_F(2, 3) LK_F(4, 5) LK_F(6, 7) LK_F(8, 9) LK_F(10, 11) ::: LK_CLOBBER12);
#undef LK_F
    }
    return (double)iters * 6 * 32 * 2;
}
#endif
