// The two products of the attention row kernels in bf16 (AVX512-BF16 vdpbf16ps: 32 bf16 products summed pairwise
// into 16 fp32 lanes per instruction), over the pair layouts of lk_attn_args. Included by ops_avx.c before
// ops_attention_tmpl.h with LK_ATTN_BF16, LK_FN and LK_TGT (AVX-512 + BF16) defined. Register tiles as the fp32
// tdots4_/wsum4_: 4 rows x 4 vectors.

#define LK_ATTN_BF16_MAX_HD 512

/// Four rows of scores: dst[r*dstride + j] = sum_d bf16(x[r][d]) * bf16(op[j][d]) for j in [j0, j1) (multiples of
/// 16), from the transposed pairs xtp[p*Sp + j] = (op[j][2p], op[j][2p+1]). hd a multiple of 32.
static LK_TGT void LK_FN(tdots4p_)(float *dst, int64_t dstride, const float *const x[4], const uint32_t *xtp,
                                   int64_t Sp, int64_t hd, int64_t j0, int64_t j1) {
    uint32_t xp[4][LK_ATTN_BF16_MAX_HD / 2] __attribute__((aligned(64)));
    for (int r = 0; r < 4; r++)
        for (int64_t d = 0; d < hd; d += 32) {
            const __m512bh h = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x[r] + d + 16), _mm512_loadu_ps(x[r] + d));
            _mm512_store_si512((void *)(xp[r] + d / 2), (__m512i)h);
        }
    const int64_t hp = hd / 2;
    int64_t j = j0;
    for (; j + 64 <= j1; j += 64) {
        __m512 a0[4], a1[4], a2[4], a3[4];
        for (int u = 0; u < 4; u++) a0[u] = a1[u] = a2[u] = a3[u] = _mm512_setzero_ps();
        const uint32_t *col = xtp + j;
        for (int64_t p = 0; p < hp; p++, col += Sp) {
            const __m512bh b0 = (__m512bh)_mm512_set1_epi32((int)xp[0][p]), b1 = (__m512bh)_mm512_set1_epi32((int)xp[1][p]);
            const __m512bh b2 = (__m512bh)_mm512_set1_epi32((int)xp[2][p]), b3 = (__m512bh)_mm512_set1_epi32((int)xp[3][p]);
            for (int u = 0; u < 4; u++) {
                const __m512bh c = (__m512bh)_mm512_loadu_si512((const void *)(col + u * 16));
                a0[u] = _mm512_dpbf16_ps(a0[u], c, b0);
                a1[u] = _mm512_dpbf16_ps(a1[u], c, b1);
                a2[u] = _mm512_dpbf16_ps(a2[u], c, b2);
                a3[u] = _mm512_dpbf16_ps(a3[u], c, b3);
            }
        }
        for (int u = 0; u < 4; u++) {
            _mm512_storeu_ps(dst + j + u * 16, a0[u]);
            _mm512_storeu_ps(dst + dstride + j + u * 16, a1[u]);
            _mm512_storeu_ps(dst + 2 * dstride + j + u * 16, a2[u]);
            _mm512_storeu_ps(dst + 3 * dstride + j + u * 16, a3[u]);
        }
    }
    for (; j < j1; j += 16) {
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const uint32_t *col = xtp + j;
        for (int64_t p = 0; p < hp; p++, col += Sp) {
            const __m512bh c = (__m512bh)_mm512_loadu_si512((const void *)col);
            a0 = _mm512_dpbf16_ps(a0, c, (__m512bh)_mm512_set1_epi32((int)xp[0][p]));
            a1 = _mm512_dpbf16_ps(a1, c, (__m512bh)_mm512_set1_epi32((int)xp[1][p]));
            a2 = _mm512_dpbf16_ps(a2, c, (__m512bh)_mm512_set1_epi32((int)xp[2][p]));
            a3 = _mm512_dpbf16_ps(a3, c, (__m512bh)_mm512_set1_epi32((int)xp[3][p]));
        }
        _mm512_storeu_ps(dst + j, a0);
        _mm512_storeu_ps(dst + dstride + j, a1);
        _mm512_storeu_ps(dst + 2 * dstride + j, a2);
        _mm512_storeu_ps(dst + 3 * dstride + j, a3);
    }
}

/// Four weighted row sums: dst[r][d] = (accumulate ? dst[r][d] : 0) + alpha[r] * sum_{j in [start, start+n)}
/// bf16(w[r*wstride + j]) * bf16(row j)[d], from the row pairs rp[m*hd + d] = (row 2m, row 2m+1) (zero past the
/// rows). The w rows are rounded to bf16 pairs in place from start/16*16 (a multiple of 16 at or after the start of
/// the rows' valid range) to the next multiple of 16 after start+n; w[start+n] must be 0 when start+n is odd, and
/// w[start-1] when start is odd. hd a multiple of 16.
static LK_TGT void LK_FN(wsum4p_)(float *const dst[4], float *w, int64_t wstride, const uint32_t *rp, int64_t start,
                                  int64_t n, int64_t hd, const float alpha[4], int accumulate) {
    const int64_t c0 = start / 16 * 16, e0 = start & ~(int64_t)1, end = (start + n + 1) & ~(int64_t)1;
    const uint32_t *wp[4];
    for (int r = 0; r < 4; r++) {
        float *wr = w + r * wstride;
        uint32_t *pr = (uint32_t *)(void *)(wr + c0);
        for (int64_t j = c0; j < end; j += 16) { // writes stay at or behind the reads
            const __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(wr + j));
            _mm256_storeu_si256((__m256i *)(void *)(pr + (j - c0) / 2), (__m256i)h);
        }
        wp[r] = pr + (e0 - c0) / 2;
    }
    const int64_t np = (end - e0) / 2;
    const uint32_t *rows = rp + (e0 / 2) * hd;
    const uint32_t *w0 = wp[0], *w1 = wp[1], *w2 = wp[2], *w3 = wp[3];
    int64_t d = 0;
    for (; d + 64 <= hd; d += 64) {
        __m512 a0[4], a1[4], a2[4], a3[4];
        for (int u = 0; u < 4; u++) a0[u] = a1[u] = a2[u] = a3[u] = _mm512_setzero_ps();
        const uint32_t *r = rows + d;
        for (int64_t m = 0; m < np; m++, r += hd) {
            const __m512bh b0 = (__m512bh)_mm512_set1_epi32((int)w0[m]), b1 = (__m512bh)_mm512_set1_epi32((int)w1[m]);
            const __m512bh b2 = (__m512bh)_mm512_set1_epi32((int)w2[m]), b3 = (__m512bh)_mm512_set1_epi32((int)w3[m]);
            for (int u = 0; u < 4; u++) {
                const __m512bh c = (__m512bh)_mm512_loadu_si512((const void *)(r + u * 16));
                a0[u] = _mm512_dpbf16_ps(a0[u], c, b0);
                a1[u] = _mm512_dpbf16_ps(a1[u], c, b1);
                a2[u] = _mm512_dpbf16_ps(a2[u], c, b2);
                a3[u] = _mm512_dpbf16_ps(a3[u], c, b3);
            }
        }
        __m512 *acc[4] = {a0, a1, a2, a3};
        for (int k = 0; k < 4; k++) {
            const __m512 va = _mm512_set1_ps(alpha[k]);
            for (int u = 0; u < 4; u++) {
                float *o = dst[k] + d + u * 16;
                const __m512 y = _mm512_mul_ps(acc[k][u], va);
                _mm512_storeu_ps(o, accumulate ? _mm512_add_ps(_mm512_loadu_ps(o), y) : y);
            }
        }
    }
    for (; d < hd; d += 16) {
        __m512 a[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
        const uint32_t *r = rows + d;
        for (int64_t m = 0; m < np; m++, r += hd) {
            const __m512bh c = (__m512bh)_mm512_loadu_si512((const void *)r);
            a[0] = _mm512_dpbf16_ps(a[0], c, (__m512bh)_mm512_set1_epi32((int)w0[m]));
            a[1] = _mm512_dpbf16_ps(a[1], c, (__m512bh)_mm512_set1_epi32((int)w1[m]));
            a[2] = _mm512_dpbf16_ps(a[2], c, (__m512bh)_mm512_set1_epi32((int)w2[m]));
            a[3] = _mm512_dpbf16_ps(a[3], c, (__m512bh)_mm512_set1_epi32((int)w3[m]));
        }
        for (int k = 0; k < 4; k++) {
            const __m512 y = _mm512_mul_ps(a[k], _mm512_set1_ps(alpha[k]));
            _mm512_storeu_ps(dst[k] + d, accumulate ? _mm512_add_ps(_mm512_loadu_ps(dst[k] + d), y) : y);
        }
    }
}

/// The transposed pairs of one head: dst[p*Sp + s] = (src[s*stride + 2p], src[s*stride + 2p+1]) for s < S, 0 for
/// s in [S, Sp). hd a multiple of 32.
static LK_TGT void LK_FN(pairs_t_)(uint32_t *dst, const float *src, int64_t stride, int64_t S, int64_t Sp, int64_t hd) {
    uint32_t t[16][LK_ATTN_BF16_MAX_HD / 2] __attribute__((aligned(64)));
    for (int64_t s0 = 0; s0 < Sp; s0 += 16) {
        for (int64_t s = s0; s < s0 + 16; s++)
            for (int64_t d = 0; d < hd; d += 32) {
                const __m512i h = s < S ? (__m512i)_mm512_cvtne2ps_pbh(_mm512_loadu_ps(src + s * stride + d + 16),
                                                                       _mm512_loadu_ps(src + s * stride + d))
                                        : _mm512_setzero_si512();
                _mm512_store_si512((void *)(t[s - s0] + d / 2), h);
            }
        for (int64_t p = 0; p < hd / 2; p++)
            for (int64_t s = 0; s < 16; s++) dst[p * Sp + s0 + s] = t[s][p];
    }
}

/// The row pairs of one head: dst[m*hd + d] = (src[2m*stride + d], src[(2m+1)*stride + d]), rows at or past S
/// taken as 0, m < Sp/2. hd a multiple of 16.
static LK_TGT void LK_FN(pairs_r_)(uint32_t *dst, const float *src, int64_t stride, int64_t S, int64_t Sp, int64_t hd) {
    for (int64_t m = 0; m < Sp / 2; m++)
        for (int64_t d = 0; d < hd; d += 16) {
            const __m512i lo = 2 * m < S ? _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + 2 * m * stride + d)))
                                         : _mm512_setzero_si512();
            const __m512i hi = 2 * m + 1 < S ? _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(src + (2 * m + 1) * stride + d)))
                                             : _mm512_setzero_si512();
            _mm512_storeu_si512((void *)(dst + m * hd + d), _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16)));
        }
}
