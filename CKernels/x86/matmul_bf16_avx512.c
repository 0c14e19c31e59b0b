// AVX512-BF16 8 x 32 microkernel of the bf16 products (see lk_matmul_bf16_kernel.h).
#include "../lk_matmul_bf16_kernel.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
void lk_bf16_kernel_avx512(float *C, int64_t ldc, const uint32_t *const *a, const uint32_t *bp, int64_t kp, int mr,
                           int nr, int add) {
    __m512 c[8][2];
    for (int r = 0; r < 8; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    const uint32_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3], *a4 = a[4], *a5 = a[5], *a6 = a[6], *a7 = a[7];
    for (int64_t p = 0; p < kp; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + p * 32);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + p * 32 + 16);
#define LK_ROW(r, ar)                                                          \
        {                                                                      \
            const __m512bh x = (__m512bh)_mm512_set1_epi32((int)ar[p]);        \
            c[r][0] = _mm512_dpbf16_ps(c[r][0], x, b0);                        \
            c[r][1] = _mm512_dpbf16_ps(c[r][1], x, b1);                        \
        }
        LK_ROW(0, a0) LK_ROW(1, a1) LK_ROW(2, a2) LK_ROW(3, a3) LK_ROW(4, a4) LK_ROW(5, a5) LK_ROW(6, a6) LK_ROW(7, a7)
#undef LK_ROW
    }
    const __mmask16 m0 = nr >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 m1 = nr >= 32 ? (__mmask16)0xffff : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
    for (int r = 0; r < mr; r++) {
        float *y = C + r * ldc;
        __m512 v0 = c[r][0], v1 = c[r][1];
        if (add) {
            v0 = _mm512_add_ps(v0, _mm512_maskz_loadu_ps(m0, y));
            v1 = _mm512_add_ps(v1, _mm512_maskz_loadu_ps(m1, y + 16));
        }
        _mm512_mask_storeu_ps(y, m0, v0);
        _mm512_mask_storeu_ps(y + 16, m1, v1);
    }
}
#endif
