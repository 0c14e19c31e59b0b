// AVX512-VNNI microkernel of the int8 products (see lk_matmul_int8_kernel.h): LK_I8_MR rows × 32 columns,
// `vpdpbusd` (activations stored biased as u8 = a + 128, weights s8, 4 per lane) into int32 per group; the bias
// comes back out as one integer subtraction of bc = 128·Σw per group, then the group's fp32 scaling. Also the
// left operand's quantization (the reference's arithmetic, same bits).
#include "../lk_matmul_int8_kernel.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LK_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))

LK_AVX512_VNNI void lk_i8_kernel_avx512(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad,
                                        const int8_t *bp, const float *bs, const int32_t *bc, int64_t ng, int G,
                                        int mr, int nr, int add) {
    // The C tile is read only after ng groups of products: ask for it now, so its (often uncached) lines arrive
    // while the products run.
    if (add)
        for (int r = 0; r < mr; r++) {
            _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + r * ldc + 16), _MM_HINT_T0);
        }
    __m512 f[LK_I8_MR][2];
    const int8_t *ar[LK_I8_MR];
#pragma clang loop unroll(full)
    for (int r = 0; r < LK_I8_MR; r++) { f[r][0] = f[r][1] = _mm512_setzero_ps(); ar[r] = a[r]; }
    for (int64_t g = 0; g < ng; g++) {
        __m512i s[LK_I8_MR][2];
#pragma clang loop unroll(full)
        for (int r = 0; r < LK_I8_MR; r++) s[r][0] = s[r][1] = _mm512_setzero_si512();
        const int8_t *b = bp + g * G * 32;
        const int64_t k0 = g * G;
#pragma clang loop unroll_count(8)
        for (int k4 = 0; k4 < G / 4; k4++) {
            const __m512i b0 = _mm512_loadu_si512(b + k4 * 128), b1 = _mm512_loadu_si512(b + k4 * 128 + 64);
#pragma clang loop unroll(full)
            for (int r = 0; r < LK_I8_MR; r++) {
                int32_t xv;
                __builtin_memcpy(&xv, ar[r] + k0 + 4 * k4, 4);
                const __m512i v = _mm512_set1_epi32(xv);
                s[r][0] = _mm512_dpbusd_epi32(s[r][0], v, b0);
                s[r][1] = _mm512_dpbusd_epi32(s[r][1], v, b1);
            }
        }
        const __m512i c0 = _mm512_loadu_si512(bc + g * 32), c1 = _mm512_loadu_si512(bc + g * 32 + 16);
        const __m512 w0 = _mm512_loadu_ps(bs + g * 32), w1 = _mm512_loadu_ps(bs + g * 32 + 16);
#pragma clang loop unroll(full)
        for (int r = 0; r < LK_I8_MR; r++) {
            const __m512 dx = _mm512_set1_ps(ad[r][g]);
            f[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s[r][0], c0)), _mm512_mul_ps(w0, dx), f[r][0]);
            f[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s[r][1], c1)), _mm512_mul_ps(w1, dx), f[r][1]);
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

// Groups of G (a multiple of 16; the last may be shorter, also a multiple of 16), 16 elements per vector.
LK_AVX512_VNNI static inline __m512 lk_i8_load_scaled(const float *x, const float *mul, int64_t i) {
    const __m512 v = _mm512_loadu_ps(x + i);
    return mul ? _mm512_mul_ps(v, _mm512_loadu_ps(mul + i)) : v;
}

LK_AVX512_VNNI void lk_i8_quant_avx512(int8_t *q, float *d, int32_t *sum, const float *x, const float *mul, int64_t n,
                                       int G, int flip) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    const __m128i fl = _mm_set1_epi8((char)flip);
    for (int64_t g = 0, k0 = 0; k0 < n; g++, k0 += G) {
        const int64_t len = n - k0 < G ? n - k0 : G;
        __m512 m = _mm512_setzero_ps();
        // |x| first: max_ps returns its second operand when one is NaN, so a NaN is skipped as fmaxf skips it.
        for (int64_t i = 0; i < len; i += 16) m = _mm512_max_ps(_mm512_and_ps(lk_i8_load_scaled(x, mul, k0 + i), sign), m);
        const float amax = _mm512_reduce_max_ps(m);
        const float dg = amax / 127.0f, id = dg != 0 ? 1.0f / dg : 0.0f;
        const __m512 vid = _mm512_set1_ps(id);
        __m512i acc = _mm512_setzero_si512();
        for (int64_t i = 0; i < len; i += 16) {
            const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(lk_i8_load_scaled(x, mul, k0 + i), vid));
            acc = _mm512_add_epi32(acc, v);
            _mm_storeu_si128((__m128i *)(q + k0 + i), _mm_xor_si128(_mm512_cvtepi32_epi8(v), fl));
        }
        d[g] = dg;
        if (sum) sum[g] = 128 * _mm512_reduce_add_epi32(acc);
    }
}
#endif

#if defined(__x86_64__)
// Backward-data packing of one group (see lk_i8_pack_fn): 32 columns as two vectors, four rows per output word.
LK_AVX512_VNNI void lk_i8_pack_avx512(int8_t *bp, float *bs, int32_t *bc, const float *src, int64_t ld, int64_t len) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
    for (int64_t k = 0; k < len; k++) {
        m0 = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(src + k * ld), sign), m0);
        m1 = _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(src + k * ld + 16), sign), m1);
    }
    const __m512 c127 = _mm512_set1_ps(127.0f), zero = _mm512_setzero_ps();
    const __m512 d0 = _mm512_div_ps(m0, c127), d1 = _mm512_div_ps(m1, c127);
    // 1/d where d != 0, else 0 (as the reference)
    const __m512 i0 = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d0, zero, _CMP_NEQ_OQ), _mm512_set1_ps(1.0f), d0);
    const __m512 i1 = _mm512_maskz_div_ps(_mm512_cmp_ps_mask(d1, zero, _CMP_NEQ_OQ), _mm512_set1_ps(1.0f), d1);
    _mm512_storeu_ps(bs, d0);
    _mm512_storeu_ps(bs + 16, d1);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    const __m512i lo = _mm512_set1_epi32(0xff);
    for (int64_t k = 0; k < len; k += 4) {
        __m512i w0 = _mm512_setzero_si512(), w1 = _mm512_setzero_si512();
        for (int i = 0; i < 4; i++) {
            const float *row = src + (k + i) * ld;
            const __m512i v0 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(row), i0));
            const __m512i v1 = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(row + 16), i1));
            s0 = _mm512_add_epi32(s0, v0);
            s1 = _mm512_add_epi32(s1, v1);
            w0 = _mm512_or_si512(w0, _mm512_slli_epi32(_mm512_and_si512(v0, lo), 8 * i));
            w1 = _mm512_or_si512(w1, _mm512_slli_epi32(_mm512_and_si512(v1, lo), 8 * i));
        }
        _mm512_storeu_si512(bp + (k >> 2) * 128, w0);
        _mm512_storeu_si512(bp + (k >> 2) * 128 + 64, w1);
    }
    _mm512_storeu_si512(bc, _mm512_slli_epi32(s0, 7));
    _mm512_storeu_si512(bc + 16, _mm512_slli_epi32(s1, 7));
}

// Largest |x| of each channel over T rows (see lk_i8_absmax_fn): row by row, the n running maxima staying in L1.
LK_AVX512_VNNI void lk_i8_absmax_avx512(float *m, const float *x, int64_t ldx, int64_t T, int64_t n) {
    const __m512 sign = _mm512_castsi512_ps(_mm512_set1_epi32(0x7fffffff));
    const int64_t n16 = n / 16 * 16;
    const __mmask16 k = (__mmask16)((1u << (n - n16)) - 1);
    for (int64_t c = 0; c < n; c++) m[c] = 0;
    for (int64_t t = 0; t < T; t++) {
        const float *row = x + t * ldx;
        for (int64_t c = 0; c < n16; c += 16)
            _mm512_storeu_ps(m + c, _mm512_max_ps(_mm512_and_ps(_mm512_loadu_ps(row + c), sign), _mm512_loadu_ps(m + c)));
        if (k) _mm512_mask_storeu_ps(m + n16, k, _mm512_max_ps(_mm512_and_ps(_mm512_maskz_loadu_ps(k, row + n16), sign),
                                                               _mm512_maskz_loadu_ps(k, m + n16)));
    }
}
#endif
