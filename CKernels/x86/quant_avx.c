// AVX2 (+F16C) and AVX-512 row dequantization of every block type (x86-64 only; picked at run time through the
// type-traits table). Bit-identical to the reference: integer quants are formed exactly, converted to float,
// then multiplied and added in the reference's order, never fused.
#include "../quant_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static inline float half(uint16_t h) { return lk_fp16_to_fp32(h); }

// MARK: - AVX2

#define AVX2_TARGET __attribute__((target("avx2,fma,f16c")))

// 8 unsigned / signed bytes (the low 8 of v) -> 8 floats.
AVX2_TARGET static inline __m256 u8x8(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)); }
AVX2_TARGET static inline __m256 i8x8(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

// y[0..15] = op(q[0..15]) for 16 unsigned quants: q * d + m (mode 0), (q - off) * d (mode 1), d * q - m (mode 2).
AVX2_TARGET static inline void avx2_store16(float *y, __m128i q, __m256 d, __m256 m, __m256 off, int mode) {
    const __m256 v[2] = {u8x8(q), u8x8(_mm_srli_si128(q, 8))};
    for (int k = 0; k < 2; k++) {
        __m256 r;
        if (mode == 0) r = _mm256_add_ps(_mm256_mul_ps(v[k], d), m);
        else if (mode == 1) r = _mm256_mul_ps(_mm256_sub_ps(v[k], off), d); // (q - off) is exact in float
        else r = _mm256_sub_ps(_mm256_mul_ps(d, v[k]), m);
        _mm256_storeu_ps(y + 8 * k, r);
    }
}

AVX2_TARGET void lk_dq_f16_avx2(float *y, const void *x, int64_t n) {
    const uint16_t *h = (const uint16_t *)x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < n; i++) y[i] = lk_fp16_to_fp32(h[i]);
}

AVX2_TARGET void lk_dq_bf16_avx2(float *y, const void *x, int64_t n) {
    const uint16_t *h = (const uint16_t *)x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(h + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) y[i] = lk_bf16_to_fp32(h[i]);
}

AVX2_TARGET void lk_dq_q8_0_avx2(float *y, const void *x, int64_t n) {
    const lk_block_q8_0 *b = (const lk_block_q8_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const __m256 d = _mm256_set1_ps(half(b[i].d));
        for (int j = 0; j < 32; j += 8)
            _mm256_storeu_ps(y + j, _mm256_mul_ps(i8x8(_mm_loadl_epi64((const __m128i *)(b[i].qs + j))), d));
    }
}

// Low and high nibbles of 16 bytes.
AVX2_TARGET static inline void nibbles(const uint8_t *p, __m128i *lo, __m128i *hi) {
    const __m128i q = _mm_loadu_si128((const __m128i *)p), mask = _mm_set1_epi8(0x0f);
    *lo = _mm_and_si128(q, mask);
    *hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
}

AVX2_TARGET void lk_dq_q4_0_avx2(float *y, const void *x, int64_t n) {
    const lk_block_q4_0 *b = (const lk_block_q4_0 *)x;
    const __m256 eight = _mm256_set1_ps(8.0f), zero = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const __m256 d = _mm256_set1_ps(half(b[i].d));
        __m128i lo, hi;
        nibbles(b[i].qs, &lo, &hi);
        avx2_store16(y, lo, d, zero, eight, 1);
        avx2_store16(y + 16, hi, d, zero, eight, 1);
    }
}

AVX2_TARGET void lk_dq_q4_1_avx2(float *y, const void *x, int64_t n) {
    const lk_block_q4_1 *b = (const lk_block_q4_1 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const __m256 d = _mm256_set1_ps(half(b[i].d)), m = _mm256_set1_ps(half(b[i].m));
        __m128i lo, hi;
        nibbles(b[i].qs, &lo, &hi);
        avx2_store16(y, lo, d, m, m, 0);
        avx2_store16(y + 16, hi, d, m, m, 0);
    }
}

// 0x10 in byte j (0..31) where bit j of the u32 is set.
AVX2_TARGET static inline __m256i bits32_to_16s(uint32_t qh) {
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0);
    const __m256i bytes = _mm256_or_si256(_mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), shuf),
                                          _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_and_si256(_mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1)), _mm256_set1_epi8(0x10));
}

// The 32 5-bit quants of a Q5 block: byte j = element j.
AVX2_TARGET static inline __m256i q5_quants_avx2(const uint8_t qs[16], const uint8_t qh[4]) {
    __m128i lo, hi;
    nibbles(qs, &lo, &hi);
    return _mm256_or_si256(_mm256_set_m128i(hi, lo), bits32_to_16s(lk_q5_qh(qh)));
}

AVX2_TARGET void lk_dq_q5_0_avx2(float *y, const void *x, int64_t n) {
    const lk_block_q5_0 *b = (const lk_block_q5_0 *)x;
    const __m256 sixteen = _mm256_set1_ps(16.0f), zero = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const __m256 d = _mm256_set1_ps(half(b[i].d));
        const __m256i q = q5_quants_avx2(b[i].qs, b[i].qh);
        avx2_store16(y, _mm256_castsi256_si128(q), d, zero, sixteen, 1);
        avx2_store16(y + 16, _mm256_extracti128_si256(q, 1), d, zero, sixteen, 1);
    }
}

AVX2_TARGET void lk_dq_q5_1_avx2(float *y, const void *x, int64_t n) {
    const lk_block_q5_1 *b = (const lk_block_q5_1 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const __m256 d = _mm256_set1_ps(half(b[i].d)), m = _mm256_set1_ps(half(b[i].m));
        const __m256i q = q5_quants_avx2(b[i].qs, b[i].qh);
        avx2_store16(y, _mm256_castsi256_si128(q), d, m, m, 0);
        avx2_store16(y + 16, _mm256_extracti128_si256(q, 1), d, m, m, 0);
    }
}

// Q4_K / Q5_K: 64 elements (sub-blocks 2j, 2j+1) from 32 bytes of nibbles at ql plus, for Q5_K (qh != NULL), 16
// where bit 2j / 2j+1 of qh[l] is set; y = d_s * q - m_s.
AVX2_TARGET static inline void k_pair_avx2(float *y, const uint8_t *ql, const uint8_t *qh, int j, float d1, float m1,
                                           float d2, float m2) {
    const __m256 vd1 = _mm256_set1_ps(d1), vm1 = _mm256_set1_ps(m1), vd2 = _mm256_set1_ps(d2), vm2 = _mm256_set1_ps(m2);
    for (int h = 0; h < 2; h++) {
        __m128i lo, hi;
        nibbles(ql + 16 * h, &lo, &hi);
        if (qh) {
            const __m128i bits = _mm_loadu_si128((const __m128i *)(qh + 16 * h)), one = _mm_set1_epi8(1);
            lo = _mm_or_si128(lo, _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(bits, 2 * j), one), 4));
            hi = _mm_or_si128(hi, _mm_slli_epi16(_mm_and_si128(_mm_srli_epi16(bits, 2 * j + 1), one), 4));
        }
        avx2_store16(y + 16 * h, lo, vd1, vm1, vm1, 2);
        avx2_store16(y + 32 + 16 * h, hi, vd2, vm2, vm2, 2);
    }
}

AVX2_TARGET void lk_dq_q4_K_avx2(float *y, const void *x, int64_t n) { lk_dq_k45(y, x, n, 0, k_pair_avx2); }

AVX2_TARGET void lk_dq_q5_K_avx2(float *y, const void *x, int64_t n) { lk_dq_k45(y, x, n, 1, k_pair_avx2); }

// Q6_K: the four 32-quant groups of a 128-element half as signed bytes (q - 32): y[0..31], y[32..63], ….
AVX2_TARGET static inline void q6_groups_avx2(__m256i q[4], const uint8_t *ql, const uint8_t *qh) {
    const __m256i a = _mm256_loadu_si256((const __m256i *)ql), b = _mm256_loadu_si256((const __m256i *)(ql + 32));
    const __m256i h = _mm256_loadu_si256((const __m256i *)qh), m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const __m256i off = _mm256_set1_epi8(32);
    q[0] = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
    q[1] = _mm256_or_si256(_mm256_and_si256(b, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(h, m30));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
    for (int k = 0; k < 4; k++) q[k] = _mm256_sub_epi8(q[k], off);
}

AVX2_TARGET void lk_dq_q6_K_avx2(float *y, const void *x, int64_t n) {
    const lk_block_q6_K *b = (const lk_block_q6_K *)x;
    for (int64_t i = 0; i < n / 256; i++) {
        const float d = half(b[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            __m256i q[4];
            q6_groups_avx2(q, b[i].ql + 64 * h, b[i].qh + 32 * h);
            for (int g = 0; g < 4; g++) {
                for (int s = 0; s < 2; s++) { // 16 elements of scale sc[8h + 2g + s]
                    const __m256 ds = _mm256_set1_ps(d * (float)b[i].scales[8 * h + 2 * g + s]);
                    const __m128i v = s ? _mm256_extracti128_si256(q[g], 1) : _mm256_castsi256_si128(q[g]);
                    float *o = y + 32 * g + 16 * s;
                    _mm256_storeu_ps(o, _mm256_mul_ps(ds, i8x8(v)));
                    _mm256_storeu_ps(o + 8, _mm256_mul_ps(ds, i8x8(_mm_srli_si128(v, 8))));
                }
            }
        }
    }
}

// MARK: - AVX-512

#define AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,f16c")))

AVX512_TARGET static inline __m512 u8x16(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)); }
AVX512_TARGET static inline __m512 i8x16(__m128i v) { return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(v)); }

AVX512_TARGET void lk_dq_f16_avx512(float *y, const void *x, int64_t n) {
    const uint16_t *h = (const uint16_t *)x;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + i))));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i)));
    }
}

AVX512_TARGET void lk_dq_bf16_avx512(float *y, const void *x, int64_t n) {
    const uint16_t *h = (const uint16_t *)x;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(h + i)));
        _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        const __m512i w = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, h + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_castsi512_ps(_mm512_slli_epi32(w, 16)));
    }
}

AVX512_TARGET void lk_dq_q8_0_avx512(float *y, const void *x, int64_t n) {
    const lk_block_q8_0 *b = (const lk_block_q8_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const __m512 d = _mm512_set1_ps(half(b[i].d));
        _mm512_storeu_ps(y, _mm512_mul_ps(i8x16(_mm_loadu_si128((const __m128i *)b[i].qs)), d));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(i8x16(_mm_loadu_si128((const __m128i *)(b[i].qs + 16))), d));
    }
}

AVX512_TARGET static inline void nibbles512(const uint8_t *p, __m128i *lo, __m128i *hi) {
    const __m128i q = _mm_loadu_si128((const __m128i *)p), mask = _mm_set1_epi8(0x0f);
    *lo = _mm_and_si128(q, mask);
    *hi = _mm_and_si128(_mm_srli_epi16(q, 4), mask);
}

// y[0..31] from the quants of a 32-element block (lo: elements 0..15, hi: 16..31): q * d + m when `affine`,
// else (q - m) * d (m: the offset 8 or 16; exact in float).
AVX512_TARGET static inline void store32_avx512(float *y, __m128i lo, __m128i hi, __m512 d, __m512 m, int affine) {
    const __m512 v[2] = {u8x16(lo), u8x16(hi)};
    for (int h = 0; h < 2; h++)
        _mm512_storeu_ps(y + 16 * h, affine ? _mm512_add_ps(_mm512_mul_ps(v[h], d), m) : _mm512_mul_ps(_mm512_sub_ps(v[h], m), d));
}

AVX512_TARGET void lk_dq_q4_0_avx512(float *y, const void *x, int64_t n) {
    const lk_block_q4_0 *b = (const lk_block_q4_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        __m128i lo, hi;
        nibbles512(b[i].qs, &lo, &hi);
        store32_avx512(y, lo, hi, _mm512_set1_ps(half(b[i].d)), _mm512_set1_ps(8.0f), 0);
    }
}

AVX512_TARGET void lk_dq_q4_1_avx512(float *y, const void *x, int64_t n) {
    const lk_block_q4_1 *b = (const lk_block_q4_1 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        __m128i lo, hi;
        nibbles512(b[i].qs, &lo, &hi);
        store32_avx512(y, lo, hi, _mm512_set1_ps(half(b[i].d)), _mm512_set1_ps(half(b[i].m)), 1);
    }
}

// The 32 5-bit quants of a Q5 block as two 16-byte halves (elements 0..15, 16..31): the 5th bits are a mask.
AVX512_TARGET static inline void q5_quants_avx512(const uint8_t qs[16], const uint8_t qh[4], __m128i *lo, __m128i *hi) {
    const uint32_t h = lk_q5_qh(qh);
    const __m128i sixteen = _mm_set1_epi8(16);
    nibbles512(qs, lo, hi);
    *lo = _mm_mask_add_epi8(*lo, (__mmask16)(h & 0xffff), *lo, sixteen);
    *hi = _mm_mask_add_epi8(*hi, (__mmask16)(h >> 16), *hi, sixteen);
}

AVX512_TARGET void lk_dq_q5_0_avx512(float *y, const void *x, int64_t n) {
    const lk_block_q5_0 *b = (const lk_block_q5_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        __m128i lo, hi;
        q5_quants_avx512(b[i].qs, b[i].qh, &lo, &hi);
        store32_avx512(y, lo, hi, _mm512_set1_ps(half(b[i].d)), _mm512_set1_ps(16.0f), 0);
    }
}

AVX512_TARGET void lk_dq_q5_1_avx512(float *y, const void *x, int64_t n) {
    const lk_block_q5_1 *b = (const lk_block_q5_1 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        __m128i lo, hi;
        q5_quants_avx512(b[i].qs, b[i].qh, &lo, &hi);
        store32_avx512(y, lo, hi, _mm512_set1_ps(half(b[i].d)), _mm512_set1_ps(half(b[i].m)), 1);
    }
}

// Q4_K / Q5_K, as k_pair_avx2: 64 elements of sub-blocks 2j and 2j+1.
AVX512_TARGET static inline void k_pair_avx512(float *y, const uint8_t *ql, const uint8_t *qh, int j, float d1, float m1,
                                               float d2, float m2) {
    const __m512 vd1 = _mm512_set1_ps(d1), vm1 = _mm512_set1_ps(m1), vd2 = _mm512_set1_ps(d2), vm2 = _mm512_set1_ps(m2);
    const __m128i sixteen = _mm_set1_epi8(16);
    for (int h = 0; h < 2; h++) {
        __m128i lo, hi;
        nibbles512(ql + 16 * h, &lo, &hi);
        if (qh) {
            const __m128i bits = _mm_loadu_si128((const __m128i *)(qh + 16 * h));
            lo = _mm_mask_add_epi8(lo, _mm_test_epi8_mask(bits, _mm_set1_epi8((char)(1 << (2 * j)))), lo, sixteen);
            hi = _mm_mask_add_epi8(hi, _mm_test_epi8_mask(bits, _mm_set1_epi8((char)(2 << (2 * j)))), hi, sixteen);
        }
        _mm512_storeu_ps(y + 16 * h, _mm512_sub_ps(_mm512_mul_ps(vd1, u8x16(lo)), vm1));
        _mm512_storeu_ps(y + 32 + 16 * h, _mm512_sub_ps(_mm512_mul_ps(vd2, u8x16(hi)), vm2));
    }
}

AVX512_TARGET void lk_dq_q4_K_avx512(float *y, const void *x, int64_t n) { lk_dq_k45(y, x, n, 0, k_pair_avx512); }

AVX512_TARGET void lk_dq_q5_K_avx512(float *y, const void *x, int64_t n) { lk_dq_k45(y, x, n, 1, k_pair_avx512); }

AVX512_TARGET void lk_dq_q6_K_avx512(float *y, const void *x, int64_t n) {
    const lk_block_q6_K *b = (const lk_block_q6_K *)x;
    const __m128i m4 = _mm_set1_epi8(0x0f), m30 = _mm_set1_epi8(0x30), off = _mm_set1_epi8(32);
    for (int64_t i = 0; i < n / 256; i++) {
        const float d = half(b[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            for (int s = 0; s < 2; s++) { // elements l = 16s .. 16s+15 of each of the four groups
                const __m128i a = _mm_loadu_si128((const __m128i *)(ql + 16 * s));
                const __m128i c = _mm_loadu_si128((const __m128i *)(ql + 32 + 16 * s));
                const __m128i hb = _mm_loadu_si128((const __m128i *)(qh + 16 * s));
                __m128i q[4];
                q[0] = _mm_or_si128(_mm_and_si128(a, m4), _mm_and_si128(_mm_slli_epi16(hb, 4), m30));
                q[1] = _mm_or_si128(_mm_and_si128(c, m4), _mm_and_si128(_mm_slli_epi16(hb, 2), m30));
                q[2] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(a, 4), m4), _mm_and_si128(hb, m30));
                q[3] = _mm_or_si128(_mm_and_si128(_mm_srli_epi16(c, 4), m4), _mm_and_si128(_mm_srli_epi16(hb, 2), m30));
                for (int g = 0; g < 4; g++) {
                    const __m512 ds = _mm512_set1_ps(d * (float)b[i].scales[8 * h + 2 * g + s]);
                    _mm512_storeu_ps(y + 32 * g + 16 * s, _mm512_mul_ps(ds, i8x16(_mm_sub_epi8(q[g], off))));
                }
            }
        }
    }
}
#endif
