// AVX2 (+F16C) and AVX-512 dequantization of F16, BF16, Q8_0, Q4_0, Q4_1 rows (x86-64 only; selected at
// run time). Bit-identical to the reference: the same products and sums, never fused.
#include "lk_quant.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static inline uint16_t ld16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }

// MARK: - AVX2

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

AVX2_TARGET static inline __m256 avx2_nibbles_lo(__m128i q8) { // 8 bytes -> 8 floats
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q8));
}

AVX2_TARGET void lk_dequantize_row_avx2(lk_type t, float *y, const void *x, int64_t n) {
    const uint8_t *b = (const uint8_t *)x;
    int64_t i = 0;
    switch (t) {
    case LK_F16:
        for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + 2 * i))));
        for (; i < n; i++) y[i] = lk_fp16_to_fp32(ld16(b + 2 * i));
        return;
    case LK_BF16:
        for (; i + 8 <= n; i += 8) {
            const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(b + 2 * i)));
            _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
        }
        for (; i < n; i++) y[i] = lk_bf16_to_fp32(ld16(b + 2 * i));
        return;
    case LK_Q8_0:
        for (int64_t k = 0; k < n / 32; k++, b += sizeof(lk_block_q8_0), y += 32) {
            const __m256 d = _mm256_set1_ps(lk_fp16_to_fp32(ld16(b)));
            for (int j = 0; j < 32; j += 8) {
                const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 2 + j)));
                _mm256_storeu_ps(y + j, _mm256_mul_ps(_mm256_cvtepi32_ps(q), d));
            }
        }
        return;
    case LK_Q4_0:
    case LK_Q4_1: {
        const int is1 = t == LK_Q4_1;
        const size_t bytes = is1 ? sizeof(lk_block_q4_1) : sizeof(lk_block_q4_0);
        const __m128i lo_mask = _mm_set1_epi8(0x0f);
        const __m256 eight = _mm256_set1_ps(8.0f);
        for (int64_t k = 0; k < n / 32; k++, b += bytes, y += 32) {
            const __m256 d = _mm256_set1_ps(lk_fp16_to_fp32(ld16(b)));
            const __m128i q = _mm_loadu_si128((const __m128i *)(b + (is1 ? 4 : 2)));
            const __m128i lo = _mm_and_si128(q, lo_mask), hi = _mm_and_si128(_mm_srli_epi16(q, 4), lo_mask);
            __m256 v[4] = {avx2_nibbles_lo(lo), avx2_nibbles_lo(_mm_srli_si128(lo, 8)), avx2_nibbles_lo(hi),
                           avx2_nibbles_lo(_mm_srli_si128(hi, 8))};
            if (is1) {
                const __m256 m = _mm256_set1_ps(lk_fp16_to_fp32(ld16(b + 2)));
                for (int j = 0; j < 4; j++) _mm256_storeu_ps(y + 8 * j, _mm256_add_ps(_mm256_mul_ps(v[j], d), m));
            } else {
                // (q - 8) is exact in float, so subtracting after conversion matches the reference.
                for (int j = 0; j < 4; j++) _mm256_storeu_ps(y + 8 * j, _mm256_mul_ps(_mm256_sub_ps(v[j], eight), d));
            }
        }
        return;
    }
    default:
        lk_dequantize_row_ref(t, y, x, n);
        return;
    }
}

// MARK: - AVX-512

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c")))

AVX512_TARGET void lk_dequantize_row_avx512(lk_type t, float *y, const void *x, int64_t n) {
    const uint8_t *b = (const uint8_t *)x;
    int64_t i = 0;
    switch (t) {
    case LK_F16:
        for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + 2 * i))));
        if (i < n) {
            const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
            _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, b + 2 * i)));
        }
        return;
    case LK_BF16:
        for (; i + 16 <= n; i += 16) {
            const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(b + 2 * i)));
            _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
        }
        if (i < n) {
            const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
            const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, b + 2 * i));
            _mm512_mask_storeu_ps(y + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
        }
        return;
    case LK_Q8_0:
        for (int64_t k = 0; k < n / 32; k++, b += sizeof(lk_block_q8_0), y += 32) {
            const __m512 d = _mm512_set1_ps(lk_fp16_to_fp32(ld16(b)));
            const __m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 2)));
            const __m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 18)));
            _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(q0), d));
            _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(q1), d));
        }
        return;
    case LK_Q4_0:
    case LK_Q4_1: {
        const int is1 = t == LK_Q4_1;
        const size_t bytes = is1 ? sizeof(lk_block_q4_1) : sizeof(lk_block_q4_0);
        const __m128i lo_mask = _mm_set1_epi8(0x0f);
        const __m512 eight = _mm512_set1_ps(8.0f);
        for (int64_t k = 0; k < n / 32; k++, b += bytes, y += 32) {
            const __m512 d = _mm512_set1_ps(lk_fp16_to_fp32(ld16(b)));
            const __m128i q = _mm_loadu_si128((const __m128i *)(b + (is1 ? 4 : 2)));
            const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(q, lo_mask)));
            const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_and_si128(_mm_srli_epi16(q, 4), lo_mask)));
            if (is1) {
                const __m512 m = _mm512_set1_ps(lk_fp16_to_fp32(ld16(b + 2)));
                _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(lo, d), m));
                _mm512_storeu_ps(y + 16, _mm512_add_ps(_mm512_mul_ps(hi, d), m));
            } else {
                _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_sub_ps(lo, eight), d));
                _mm512_storeu_ps(y + 16, _mm512_mul_ps(_mm512_sub_ps(hi, eight), d));
            }
        }
        return;
    }
    default:
        lk_dequantize_row_ref(t, y, x, n);
        return;
    }
}

#else
void lk_dequantize_row_avx2(lk_type t, float *y, const void *x, int64_t n) { lk_dequantize_row_ref(t, y, x, n); }
void lk_dequantize_row_avx512(lk_type t, float *y, const void *x, int64_t n) { lk_dequantize_row_ref(t, y, x, n); }
#endif
