// AVX2 microkernel of the int8 products (see lk_matmul_int8_kernel.h), for CPUs without AVX512-VNNI: `vpmaddubsw`
// on |w| (u8) × sign(a, w) (s8) — both at most 127 in magnitude, so the 16-bit pair sums (≤ 2·127·127) never
// saturate — then `vpmaddwd` with ones to int32: the same integer sums as the other kernels.
#include "../lk_matmul_int8_kernel.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LK_AVX2 __attribute__((target("avx2,fma")))

// The 32 columns of one row as 4 vectors of 8; columns come from the [k4][32][4] layout.
LK_AVX2 void lk_i8_kernel_avx2(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad,
                               const int8_t *bp, const float *bs, const int32_t *bc, int64_t ng, int G, int mr,
                               int nr, int add) {
    (void)bc;
    const __m256i ones = _mm256_set1_epi16(1);
    for (int r = 0; r < mr; r++) {
        __m256 f[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int64_t g = 0; g < ng; g++) {
            __m256i s[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
            const int8_t *b = bp + g * G * 32;
            for (int k4 = 0; k4 < G / 4; k4++) {
                int32_t xv;
                __builtin_memcpy(&xv, a[r] + g * G + 4 * k4, 4);
                const __m256i x = _mm256_set1_epi32(xv);
                for (int v = 0; v < 4; v++) {
                    const __m256i w = _mm256_loadu_si256((const __m256i *)(b + k4 * 128 + v * 32));
                    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
                    s[v] = _mm256_add_epi32(s[v], _mm256_madd_epi16(p, ones));
                }
            }
            const __m256 dx = _mm256_set1_ps(ad[r][g]);
            for (int v = 0; v < 4; v++) {
                const __m256 w = _mm256_loadu_ps(bs + g * 32 + v * 8);
                f[v] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s[v]), _mm256_mul_ps(w, dx), f[v]);
            }
        }
        float tmp[32];
        for (int v = 0; v < 4; v++) _mm256_storeu_ps(tmp + v * 8, f[v]);
        float *y = C + r * ldc;
        for (int j = 0; j < nr; j++) y[j] = add ? y[j] + tmp[j] : tmp[j];
    }
}
#endif
