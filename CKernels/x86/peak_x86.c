// x86 loops of lk_peak_ops_per_second: register-only instructions, 12 independent accumulators per iteration. Each
// loop is one asm block (operands zeroed, then the counted loop), so nothing is folded away and no register is
// assumed to survive between asm statements.
#include "../peak_internal.h"

#if defined(__x86_64__)
#define LK_R12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#define LK_ZERO3 "vpxor %%xmm13, %%xmm13, %%xmm13\n vpxor %%xmm14, %%xmm14, %%xmm14\n vpxor %%xmm15, %%xmm15, %%xmm15\n"
// name(iters): `body` (the 12 accumulator instructions) `iters` times; returns iters × ops_per_iter.
#define LK_PEAK_LOOP(name, tgt, body, ops_per_iter)                                                                  \
    __attribute__((target(tgt))) double name(int64_t iters) {                                                        \
        if (iters <= 0) return 0;                                                                                    \
        int64_t n = iters;                                                                                           \
        __asm__ volatile(LK_ZERO3 "1:\n" body "dec %0\n jnz 1b\n"                                                    \
                         : "+r"(n)::"cc", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",   \
                           "xmm9", "xmm10", "xmm11", "xmm13", "xmm14", "xmm15");                                   \
        return (double)iters * (ops_per_iter);                                                                       \
    }

#define LK_FMA_Z(k) "vfmadd231ps %%zmm14, %%zmm15, %%zmm" #k "\n"
#define LK_FMA_Y(k) "vfmadd231ps %%ymm14, %%ymm15, %%ymm" #k "\n"
#define LK_BF16_Z(k) "vdpbf16ps %%zmm14, %%zmm15, %%zmm" #k "\n"
#define LK_VNNI_Z(k) "vpdpbusd %%zmm14, %%zmm15, %%zmm" #k "\n"
// The AVX2 int8 kernel's step: vpmaddubsw (32 byte pairs → 16 s16), vpmaddwd with ones (→ 8 s32), vpaddd; 6 chains
// of the three (the 12 registers hold a product and an accumulator each).
#define LK_I8_Y(a, b) "vpmaddubsw %%ymm14, %%ymm15, %%ymm" #a "\n vpmaddwd %%ymm13, %%ymm" #a ", %%ymm" #a "\n vpaddd %%ymm" #a ", %%ymm" #b ", %%ymm" #b "\n"

LK_PEAK_LOOP(lk_peak_fp32_avx512, "avx512f", LK_R12(LK_FMA_Z), 12 * 16 * 2)
LK_PEAK_LOOP(lk_peak_fp32_avx2, "avx2,fma", LK_R12(LK_FMA_Y), 12 * 8 * 2)
LK_PEAK_LOOP(lk_peak_bf16_avx512, "avx512f,avx512bf16", LK_R12(LK_BF16_Z), 12 * 32 * 2)
LK_PEAK_LOOP(lk_peak_int8_vnni, "avx512f,avx512vnni", LK_R12(LK_VNNI_Z), 12 * 64 * 2)
LK_PEAK_LOOP(lk_peak_int8_avx2, "avx2",
             LK_I8_Y(0, 1) LK_I8_Y(2, 3) LK_I8_Y(4, 5) LK_I8_Y(6, 7) LK_I8_Y(8, 9) LK_I8_Y(10, 11), 6 * 32 * 2)
#endif
