// AVX2+FMA and AVX-512 kernels of one (query row, head) of lk_decode_attention (x86-64 only).
// q.k dot products and the weighted sum of v rows are vectorized over hd; exp is expf on the scores.
#include "../include/lk_decode.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define TGT512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
#define TGT2 __attribute__((target("avx2,fma")))

static inline TGT2 float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

TGT2 void lk_decode_head_avx2(float *out, float *scores, const float *q, const float *k, const float *v, int64_t n,
                              int64_t ks, int64_t hd, float scale) {
    const int64_t hv = hd / 8 * 8;
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        const float *kj = k + j * ks;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t d = 0; d < hv; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_loadu_ps(kj + d), acc);
        float s = hsum256(acc);
        for (int64_t d = hv; d < hd; d++) s += q[d] * kj[d];
        scores[j] = s * scale;
        m = scores[j] > m ? scores[j] : m;
    }
    const float l = lk_decode_exp_sum(scores, n, m);
    const float il = 1.0f / l;
    for (int64_t d = 0; d < hd; d++) out[d] = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float *vj = v + j * ks;
        const float w = scores[j] * il;
        const __m256 wv = _mm256_set1_ps(w);
        for (int64_t d = 0; d < hv; d += 8)
            _mm256_storeu_ps(out + d, _mm256_fmadd_ps(wv, _mm256_loadu_ps(vj + d), _mm256_loadu_ps(out + d)));
        for (int64_t d = hv; d < hd; d++) out[d] += w * vj[d];
    }
}

TGT512 void lk_decode_head_avx512(float *out, float *scores, const float *q, const float *k, const float *v, int64_t n,
                                  int64_t ks, int64_t hd, float scale) {
    const int64_t hv = hd / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (hd - hv)) - 1u);
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        const float *kj = k + j * ks;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t d = 0; d < hv; d += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + d), _mm512_loadu_ps(kj + d), acc);
        if (tail) acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + hv), _mm512_maskz_loadu_ps(tail, kj + hv), acc);
        scores[j] = _mm512_reduce_add_ps(acc) * scale;
        m = scores[j] > m ? scores[j] : m;
    }
    const float l = lk_decode_exp_sum(scores, n, m);
    const float il = 1.0f / l;
    for (int64_t d = 0; d < hd; d++) out[d] = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float *vj = v + j * ks;
        const __m512 wv = _mm512_set1_ps(scores[j] * il);
        for (int64_t d = 0; d < hv; d += 16)
            _mm512_storeu_ps(out + d, _mm512_fmadd_ps(wv, _mm512_loadu_ps(vj + d), _mm512_loadu_ps(out + d)));
        if (tail)
            _mm512_mask_storeu_ps(out + hv, tail,
                                  _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(tail, vj + hv), _mm512_maskz_loadu_ps(tail, out + hv)));
    }
}
#endif
