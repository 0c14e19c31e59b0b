// AVX512-VNNI microkernel of the int8 products (see lk_matmul_int8_kernel.h): LK_I8_MR rows × 32 columns,
// `vpdpbusd` (u8 weights × s8 activations, 4 per lane) into int32 per group, then the group's fp32 scaling.
// Also the left operand's quantization (the reference's arithmetic, same bits).
#include "../lk_matmul_int8_kernel.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LK_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

LK_AVX512_VNNI __attribute__((always_inline)) static inline void
kernel_g(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const float *const *as,
         const uint8_t *bp, const float *bs, const float *bb, int64_t ng, const int G, int mr, int nr, int add) {
    __m512 f[LK_I8_MR][2];
    const int8_t *ar[LK_I8_MR];
#pragma clang loop unroll(full)
    for (int r = 0; r < LK_I8_MR; r++) { f[r][0] = f[r][1] = _mm512_setzero_ps(); ar[r] = a[r]; }
    for (int64_t g = 0; g < ng; g++) {
        __m512i s[LK_I8_MR][2];
#pragma clang loop unroll(full)
        for (int r = 0; r < LK_I8_MR; r++) s[r][0] = s[r][1] = _mm512_setzero_si512();
        const uint8_t *b = bp + g * G * 32;
        const int64_t k0 = g * G;
#pragma clang loop unroll(full)
        for (int k4 = 0; k4 < G / 4; k4++) {
            const __m512i b0 = _mm512_loadu_si512(b + k4 * 128), b1 = _mm512_loadu_si512(b + k4 * 128 + 64);
#pragma clang loop unroll(full)
            for (int r = 0; r < LK_I8_MR; r++) {
                int32_t xv;
                __builtin_memcpy(&xv, ar[r] + k0 + 4 * k4, 4);
                const __m512i v = _mm512_set1_epi32(xv);
                s[r][0] = _mm512_dpbusd_epi32(s[r][0], b0, v);
                s[r][1] = _mm512_dpbusd_epi32(s[r][1], b1, v);
            }
        }
        const __m512 w0 = _mm512_loadu_ps(bs + g * 32), w1 = _mm512_loadu_ps(bs + g * 32 + 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < LK_I8_MR; r++) {
            const __m512 dx = _mm512_set1_ps(ad[r][g]);
            f[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r][0]), _mm512_mul_ps(w0, dx), f[r][0]);
            f[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[r][1]), _mm512_mul_ps(w1, dx), f[r][1]);
        }
        const __m512 m0 = _mm512_loadu_ps(bb + g * 32), m1 = _mm512_loadu_ps(bb + g * 32 + 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < LK_I8_MR; r++) {
            const __m512 xs = _mm512_set1_ps(as[r][g]);
            f[r][0] = _mm512_fmadd_ps(m0, xs, f[r][0]);
            f[r][1] = _mm512_fmadd_ps(m1, xs, f[r][1]);
        }
    }
    const __mmask16 k0m = nr >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << nr) - 1);
    const __mmask16 k1m = nr >= 32 ? (__mmask16)0xffff : nr <= 16 ? (__mmask16)0 : (__mmask16)((1u << (nr - 16)) - 1);
    for (int r = 0; r < mr; r++) {
        float *y = C + r * ldc;
        __m512 v0 = f[r][0], v1 = f[r][1];
        if (add) {
            v0 = _mm512_add_ps(_mm512_maskz_loadu_ps(k0m, y), v0);
            v1 = _mm512_add_ps(_mm512_maskz_loadu_ps(k1m, y + 16), v1);
        }
        _mm512_mask_storeu_ps(y, k0m, v0);
        _mm512_mask_storeu_ps(y + 16, k1m, v1);
    }
}

LK_AVX512_VNNI void lk_i8_kernel_avx512(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad,
                                        const float *const *as, const uint8_t *bp, const float *bs, const float *bb,
                                        int64_t ng, int G, int wide, int mr, int nr, int add) {
    (void)wide; // vpdpbusd sums in 32 bits: any u8 weight
    if (G == 32) kernel_g(C, ldc, a, ad, as, bp, bs, bb, ng, 32, mr, nr, add);
    else kernel_g(C, ldc, a, ad, as, bp, bs, bb, ng, 16, mr, nr, add);
}

LK_AVX512_VNNI void lk_i8_quant_avx512(int8_t *q, float *d, float *s, const float *x, int64_t n, int G) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    for (int64_t g = 0; g < n / G; g++) {
        const float *xg = x + g * G;
        const __m512 x0 = _mm512_loadu_ps(xg), x1 = G == 32 ? _mm512_loadu_ps(xg + 16) : _mm512_setzero_ps();
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_and_ps(x0, sign), _mm512_and_ps(x1, sign)));
        const float dg = amax / 127.0f, id = dg != 0 ? 1.0f / dg : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i i0 = _mm512_cvtps_epi32(_mm512_mul_ps(x0, vid)), i1 = _mm512_cvtps_epi32(_mm512_mul_ps(x1, vid));
        const int sum = _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
        _mm_storeu_si128((__m128i *)(q + g * G), _mm512_cvtepi32_epi8(i0));
        if (G == 32) _mm_storeu_si128((__m128i *)(q + g * G + 16), _mm512_cvtepi32_epi8(i1));
        d[g] = dg;
        s[g] = dg * (float)sum;
    }
}
#endif
