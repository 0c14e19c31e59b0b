// AVX512-BF16 packing steps of the bf16 products (see lk_matmul_bf16_kernel.h for the layouts).
// fp32 → bf16 with vcvtne2ps2bf16: round to nearest even like lk_f32_to_bf16, except that fp32 denormal
// inputs become ±0 (the instruction treats input denormals as zero). vdpbf16ps treats bf16 denormal
// operands as zero anyway, so only inputs just below the smallest normal (which the scalar rounding lifts
// to it) can give a different product term, of magnitude < 2^-126 · |other operand|.
#include "../lk_matmul_bf16_kernel.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LK_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Mask of the first n (0..16) lanes.
LK_BF16_TARGET static inline __mmask16 first16(int64_t n) {
    return n >= 16 ? (__mmask16)0xffff : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

// 32 floats (n valid, the rest read as 0) → 16 bf16 pairs, in order.
LK_BF16_TARGET static inline __m512i pairs32(const float *x, int64_t n) {
    const __m512 lo = _mm512_maskz_loadu_ps(first16(n), x), hi = _mm512_maskz_loadu_ps(first16(n - 16), x + 16);
    return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

LK_BF16_TARGET
void lk_bf16_pairs_avx512(uint32_t *a, const float *x, int64_t n) {
    const int64_t kp = (n + 1) / 2;
    int64_t p = 0;
    for (; p + 16 <= kp; p += 16) _mm512_storeu_si512(a + p, pairs32(x + 2 * p, n - 2 * p));
    if (p < kp) _mm512_mask_storeu_epi32(a + p, first16(kp - p), pairs32(x + 2 * p, n - 2 * p));
}

// In-register transpose of a 16 x 16 matrix of 32-bit elements: r[j] lane p → r[p] lane j.
LK_BF16_TARGET static inline void transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    // r[4i + c], 128-bit lane L: rows 4i..4i+3 at column 4L + c.
    for (int i = 0; i < 4; i++) {
        r[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    __m512i o[16];
    for (int c = 0; c < 4; c++) {
        const __m512i u0 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0x44), u1 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0x44);
        const __m512i u2 = _mm512_shuffle_i32x4(r[c], r[4 + c], 0xEE), u3 = _mm512_shuffle_i32x4(r[8 + c], r[12 + c], 0xEE);
        o[c] = _mm512_shuffle_i32x4(u0, u1, 0x88);
        o[4 + c] = _mm512_shuffle_i32x4(u0, u1, 0xDD);
        o[8 + c] = _mm512_shuffle_i32x4(u2, u3, 0x88);
        o[12 + c] = _mm512_shuffle_i32x4(u2, u3, 0xDD);
    }
    for (int i = 0; i < 16; i++) r[i] = o[i];
}

LK_BF16_TARGET
void lk_bf16_pack_rows_avx512(uint32_t *bp, const float *w, int64_t ldw, int64_t nb, int64_t kc) {
    const int64_t kpc = (kc + 1) / 2, strips = (nb + 31) / 32;
    for (int64_t s = 0; s < strips; s++) {
        uint32_t *dst = bp + s * kpc * 32;
        for (int64_t k = 0; k < kc; k += 32) {
            const int64_t np = min64(16, kpc - k / 2);   // pairs of this 32-element step
            for (int half = 0; half < 2; half++) {
                __m512i r[16];
                for (int j = 0; j < 16; j++) {
                    const int64_t row = s * 32 + half * 16 + j;
                    r[j] = row < nb ? pairs32(w + row * ldw + k, kc - k) : _mm512_setzero_si512();
                }
                transpose16(r);
                for (int64_t p = 0; p < np; p++) _mm512_storeu_si512(dst + (k / 2 + p) * 32 + half * 16, r[p]);
            }
        }
    }
}

LK_BF16_TARGET
void lk_bf16_pack_cols_avx512(uint32_t *bp, const float *w, int64_t ldw, int64_t kc, int64_t nb) {
    const int64_t kpc = (kc + 1) / 2, strips = (nb + 31) / 32;
    for (int64_t s = 0; s < strips; s++) {
        uint32_t *dst = bp + s * kpc * 32;
        const int64_t c0 = s * 32;
        const __mmask16 m0 = first16(nb - c0), m1 = first16(nb - c0 - 16);
        for (int64_t p = 0; p < kpc; p++) {
            const float *lo = w + 2 * p * ldw + c0, *hi = lo + ldw;
            const int have_hi = 2 * p + 1 < kc;
            const __m512 l0 = _mm512_maskz_loadu_ps(m0, lo), l1 = _mm512_maskz_loadu_ps(m1, lo + 16);
            const __m512 h0 = have_hi ? _mm512_maskz_loadu_ps(m0, hi) : _mm512_setzero_ps();
            const __m512 h1 = have_hi ? _mm512_maskz_loadu_ps(m1, hi + 16) : _mm512_setzero_ps();
            // bf16 words in order: a = lo[0..31], b = hi[0..31]; interleave them into 32-bit pairs.
            const __m512i a = (__m512i)_mm512_cvtne2ps_pbh(l1, l0), b = (__m512i)_mm512_cvtne2ps_pbh(h1, h0);
            const __m512i x = _mm512_unpacklo_epi16(a, b);   // lanes: pairs 0-3, 8-11, 16-19, 24-27
            const __m512i y = _mm512_unpackhi_epi16(a, b);   // lanes: pairs 4-7, 12-15, 20-23, 28-31
            const __m512i i0 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
            const __m512i i1 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
            _mm512_storeu_si512(dst + p * 32, _mm512_permutex2var_epi64(x, i0, y));
            _mm512_storeu_si512(dst + p * 32 + 16, _mm512_permutex2var_epi64(x, i1, y));
        }
    }
}
#endif
