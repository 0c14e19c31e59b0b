// Attention of new query rows over a KV cache (incremental decoding): the double reference, a scalar float
// kernel, and the threaded driver. Work is split over (row, head) pairs with a fixed partition; each pair is
// computed by one thread the same way whatever the thread count, so results are bitwise identical for any pool.
#include "lk_decode.h"
#include "ops_internal.h"
#include <math.h>

static int64_t pad16(int64_t n) { return (n + 15) / 16 * 16; }

size_t lk_decode_attention_scratch_floats(const lk_pool *p, int64_t n_ctx) {
    return (size_t)lk_pool_size(p) * (size_t)pad16(n_ctx > 0 ? n_ctx : 1);
}

/// First cache row query row `t` attends to: 0, or the start of its window of `window` keys (its own included).
static int64_t first_row(int64_t past, int64_t t, int64_t window) {
    const int64_t f = past + t + 1 - window;
    return window > 0 && f > 0 ? f : 0;
}

void lk_decode_attention_ref(float *out, const float *q, const float *kc, const float *vc, int64_t past, int64_t Tq,
                             int64_t Hq, int64_t Hkv, int64_t hd, float scale) {
    lk_decode_attention_window_ref(out, q, kc, vc, past, Tq, Hq, Hkv, hd, scale, 0);
}

void lk_decode_attention_window_ref(float *out, const float *q, const float *kc, const float *vc, int64_t past,
                                    int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd, float scale, int64_t window) {
    if (Hkv <= 0 || Hq <= 0 || hd <= 0 || Tq <= 0 || past < 0 || Hq % Hkv != 0) return;
    const int64_t G = Hq / Hkv, qs = Hq * hd, ks = Hkv * hd;
    for (int64_t t = 0; t < Tq; t++)
        for (int64_t h = 0; h < Hq; h++) {
            const float *qi = q + t * qs + h * hd;
            const int64_t f = first_row(past, t, window);
            const float *k = kc + f * ks + (h / G) * hd, *v = vc + f * ks + (h / G) * hd;
            const int64_t n = past + t + 1 - f;
            double m = -INFINITY, l = 0.0;
            for (int64_t j = 0; j < n; j++) {
                double s = 0.0;
                for (int64_t d = 0; d < hd; d++) s += (double)qi[d] * (double)k[j * ks + d];
                s *= scale;
                m = s > m ? s : m;
            }
            for (int64_t d = 0; d < hd; d++) out[t * qs + h * hd + d] = 0.0f;
            // Two passes over the scores keep the reference free of scratch: sum, then weighted values.
            for (int64_t j = 0; j < n; j++) {
                double s = 0.0;
                for (int64_t d = 0; d < hd; d++) s += (double)qi[d] * (double)k[j * ks + d];
                l += exp(s * scale - m);
            }
            for (int64_t d = 0; d < hd; d++) {
                double acc = 0.0;
                for (int64_t j = 0; j < n; j++) {
                    double s = 0.0;
                    for (int64_t e = 0; e < hd; e++) s += (double)qi[e] * (double)k[j * ks + e];
                    acc += exp(s * scale - m) / l * (double)v[j * ks + d];
                }
                out[t * qs + h * hd + d] = (float)acc;
            }
        }
}

/// Scalar float kernel (the fallback of lk_decode_attention_isa).
static void decode_head_scalar(float *out, float *scores, const float *q, const float *k, const float *v, int64_t n,
                               int64_t ks, int64_t hd, float scale) {
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) {
        float s = 0.0f;
        for (int64_t d = 0; d < hd; d++) s += q[d] * k[j * ks + d];
        scores[j] = s * scale;
        m = scores[j] > m ? scores[j] : m;
    }
    const float l = lk_decode_exp_sum(scores, n, m);
    for (int64_t d = 0; d < hd; d++) out[d] = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        const float w = scores[j] / l;
        for (int64_t d = 0; d < hd; d++) out[d] += w * v[j * ks + d];
    }
}

typedef struct decode_ctx {
    lk_decode_head_fn head;
    float *scratch, *out;
    const float *q, *kc, *vc;
    int64_t past, Tq, Hq, Hkv, hd, sp, window;
    float scale;
} decode_ctx;

static void decode_task(void *c, int ti, int nt) {
    const decode_ctx *a = (const decode_ctx *)c;
    const int64_t G = a->Hq / a->Hkv, qs = a->Hq * a->hd, ks = a->Hkv * a->hd;
    int64_t i0, i1;
    lk_ops_split(a->Tq * a->Hq, ti, nt, &i0, &i1);
    float *scores = a->scratch + (int64_t)ti * a->sp;
    for (int64_t i = i0; i < i1; i++) {
        const int64_t t = i / a->Hq, h = i % a->Hq, f = first_row(a->past, t, a->window);
        a->head(a->out + t * qs + h * a->hd, scores, a->q + t * qs + h * a->hd, a->kc + f * ks + (h / G) * a->hd,
                a->vc + f * ks + (h / G) * a->hd, a->past + t + 1 - f, ks, a->hd, a->scale);
    }
}

void lk_decode_attention_isa(lk_isa isa, lk_pool *p, float *scratch, float *out, const float *q, const float *kc,
                             const float *vc, int64_t past, int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd, float scale) {
    lk_decode_attention_window_isa(isa, p, scratch, out, q, kc, vc, past, Tq, Hq, Hkv, hd, scale, 0);
}

void lk_decode_attention_window_isa(lk_isa isa, lk_pool *p, float *scratch, float *out, const float *q, const float *kc,
                                    const float *vc, int64_t past, int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd,
                                    float scale, int64_t window) {
    if (Hkv <= 0 || Hq <= 0 || hd <= 0 || Tq <= 0 || past < 0 || Hq % Hkv != 0) return;
    lk_decode_head_fn head = decode_head_scalar;
#if defined(__x86_64__)
    if (lk_isa_supported(isa)) {
        if (isa == LK_ISA_AVX512) head = lk_decode_head_avx512;
        else if (isa == LK_ISA_AVX2) head = lk_decode_head_avx2;
    }
#endif
    decode_ctx c = {head, scratch, out, q, kc, vc, past, Tq, Hq, Hkv, hd, pad16(past + Tq), window, scale};
    // One row of a small model is a few microseconds of work: below ~8 (row, head) pairs stay on one thread.
    lk_pool_run(Tq * Hq < 8 ? NULL : p, decode_task, &c);
}

void lk_decode_attention(lk_pool *p, float *scratch, float *out, const float *q, const float *kc, const float *vc,
                         int64_t past, int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd, float scale) {
    lk_decode_attention_isa(lk_active_isa(), p, scratch, out, q, kc, vc, past, Tq, Hq, Hkv, hd, scale);
}

void lk_decode_attention_window(lk_pool *p, float *scratch, float *out, const float *q, const float *kc, const float *vc,
                                int64_t past, int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd, float scale, int64_t window) {
    lk_decode_attention_window_isa(lk_active_isa(), p, scratch, out, q, kc, vc, past, Tq, Hq, Hkv, hd, scale, window);
}
