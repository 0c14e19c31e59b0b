// Rotary position embedding, forward and backward, in GGUF's interleaved layout (pairs 2i, 2i+1 of each head: llama)
// and in NEOX / HF rotate-half layout (pairs i, i + hd/2: qwen2, qwen3, gemma3).
#include "ops_internal.h"
#include <math.h>

// Same sequence of float roundings as HF's `1.0 / (base ** (arange(0, dim, 2).float() / dim))`: a float exponent,
// pow rounded to float, a float reciprocal; then llama.cpp's division by the frequency factor.
void lk_rope_inv_freq(float *inv_freq, int64_t hd, float base, const float *freq_factors) {
    for (int64_t i = 0; i < hd / 2; i++) {
        const float e = (float)(2 * i) / (float)hd;
        const float p = (float)pow((double)base, (double)e);
        float f = 1.0f / p;
        if (freq_factors) f /= freq_factors[i];
        inv_freq[i] = f;
    }
}

/// cos and sin of the angle (float)pos * inv_freq (a float product, as HF computes it) by libm's cosf/sinf
/// (faithfully rounded, with exact argument reduction for large angles).
static inline void rope_cs(int32_t pos, float inv_freq, float sign, float *c, float *s) {
    const float angle = (float)pos * inv_freq;
    *c = cosf(angle);
    *s = sign * sinf(angle);
}

/// Rotates the pair (x[0], x[off]): off = 1 for interleaved pairs, hd/2 for NEOX pairs.
static inline void rotate(float *x, int64_t off, float c, float s) {
    const float x0 = x[0], x1 = x[off];
    x[0] = x0 * c - x1 * s;
    x[off] = x0 * s + x1 * c;
}

/// neox = 0: pair i is (2i, 2i+1); neox = 1: pair i is (i, i + hd/2).
static void rope_ref(float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd,
                     float sign, int neox) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < hd / 2; i++) {
                float c, s;
                rope_cs(pos[t], inv_freq[i], sign, &c, &s);
                float *xh = x + t * H * hd + h * hd;
                if (neox) rotate(xh + i, hd / 2, c, s);
                else rotate(xh + 2 * i, 1, c, s);
            }
}

void lk_rope_fwd_ref(float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd) {
    rope_ref(x, pos, inv_freq, T, H, hd, 1.0f, 0);
}

void lk_rope_bwd_ref(float *dx, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd) {
    rope_ref(dx, pos, inv_freq, T, H, hd, -1.0f, 0);
}

void lk_rope_neox_fwd_ref(float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd) {
    rope_ref(x, pos, inv_freq, T, H, hd, 1.0f, 1);
}

void lk_rope_neox_bwd_ref(float *dx, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd) {
    rope_ref(dx, pos, inv_freq, T, H, hd, -1.0f, 1);
}

typedef struct {
    float *x;
    const int32_t *pos;
    const float *inv_freq;
    int64_t H, hd;
    float sign;
    int neox;
} rope_ctx;

// Rows [r0, r1): cos/sin computed once per (row, frequency) in chunks of 64 and applied to every head.
static void rope_range(void *ctx, int64_t r0, int64_t r1) {
    const rope_ctx *a = (const rope_ctx *)ctx;
    const int64_t half = a->hd / 2;
    float cs[64], sn[64];
    for (int64_t t = r0; t < r1; t++) {
        float *row = a->x + t * a->H * a->hd;
        for (int64_t i0 = 0; i0 < half; i0 += 64) {
            const int64_t n = half - i0 < 64 ? half - i0 : 64;
            for (int64_t i = 0; i < n; i++) rope_cs(a->pos[t], a->inv_freq[i0 + i], a->sign, &cs[i], &sn[i]);
            for (int64_t h = 0; h < a->H; h++) {
                if (a->neox) {
                    float *xh = row + h * a->hd + i0;
                    for (int64_t i = 0; i < n; i++) rotate(xh + i, half, cs[i], sn[i]);
                } else {
                    float *xh = row + h * a->hd + 2 * i0;
                    for (int64_t i = 0; i < n; i++) rotate(xh + 2 * i, 1, cs[i], sn[i]);
                }
            }
        }
    }
}

void lk_rope_fwd(lk_pool *p, float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd) {
    rope_ctx c = {x, pos, inv_freq, H, hd, 1.0f, 0};
    lk_ops_parallel_for(p, T, 1, 2, rope_range, &c);
}

void lk_rope_bwd(lk_pool *p, float *dx, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd) {
    rope_ctx c = {dx, pos, inv_freq, H, hd, -1.0f, 0};
    lk_ops_parallel_for(p, T, 1, 2, rope_range, &c);
}

void lk_rope_neox_fwd(lk_pool *p, float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd) {
    rope_ctx c = {x, pos, inv_freq, H, hd, 1.0f, 1};
    lk_ops_parallel_for(p, T, 1, 2, rope_range, &c);
}

void lk_rope_neox_bwd(lk_pool *p, float *dx, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd) {
    rope_ctx c = {dx, pos, inv_freq, H, hd, -1.0f, 1};
    lk_ops_parallel_for(p, T, 1, 2, rope_range, &c);
}
