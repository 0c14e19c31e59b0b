// Attention of a few new query rows over a KV cache: the incremental-decoding counterpart of lk_attention_fwd.
// Same conventions as lk_ops.h: lk_<op>_ref is the double-precision spec, lk_<op>_isa the threaded production
// path for one ISA (scalar fallback when the CPU lacks it), lk_<op> the dispatched entry.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include "lk_cpu.h"
#include "lk_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Floats of scratch lk_decode_attention needs for this pool with a cache of `n_ctx` rows: threads * n_ctx16
/// (n_ctx rounded up to 16).
size_t lk_decode_attention_scratch_floats(const lk_pool *p, int64_t n_ctx);
/// Causal GQA of Tq new rows at absolute positions past .. past+Tq-1 over a cache whose rows 0 .. past+Tq-1
/// are filled (the new rows' k and v already written). Query row t attends to cache rows 0 .. past+t.
/// out, q: [Tq, Hq*hd]; kc, vc: [>= past+Tq, Hkv*hd] (rows Hkv*hd floats apart); query head h uses kv head
/// h / (Hq/Hkv). scratch: lk_decode_attention_scratch_floats(p, >= past+Tq) floats. Calls with Hq % Hkv != 0,
/// past < 0 or a size <= 0 do nothing (the caller validates the model config).
void lk_decode_attention(lk_pool *p, float *scratch, float *out, const float *q, const float *kc, const float *vc,
                         int64_t past, int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd, float scale);
void lk_decode_attention_isa(lk_isa isa, lk_pool *p, float *scratch, float *out, const float *q, const float *kc,
                             const float *vc, int64_t past, int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd, float scale);
/// Reference: single-threaded, scores, softmax and weighted sums in double; no scratch.
void lk_decode_attention_ref(float *out, const float *q, const float *kc, const float *vc, int64_t past, int64_t Tq,
                             int64_t Hq, int64_t Hkv, int64_t hd, float scale);
/// The same with a sliding window of `window` keys (0 = none): query row t attends to cache rows
/// max(0, past+t+1-window) .. past+t (Mistral, Gemma 3 local layers).
void lk_decode_attention_window(lk_pool *p, float *scratch, float *out, const float *q, const float *kc, const float *vc,
                                int64_t past, int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd, float scale, int64_t window);
void lk_decode_attention_window_isa(lk_isa isa, lk_pool *p, float *scratch, float *out, const float *q, const float *kc,
                                    const float *vc, int64_t past, int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd,
                                    float scale, int64_t window);
void lk_decode_attention_window_ref(float *out, const float *q, const float *kc, const float *vc, int64_t past,
                                    int64_t Tq, int64_t Hq, int64_t Hkv, int64_t hd, float scale, int64_t window);

/// scores[j] = expf(scores[j] - m) for j < n; returns their float sum (the softmax denominator, summed in order).
static inline float lk_decode_exp_sum(float *scores, int64_t n, float m) {
    float l = 0.0f;
    for (int64_t j = 0; j < n; j++) {
        scores[j] = expf(scores[j] - m);
        l += scores[j];
    }
    return l;
}

/// One (query row, head) of the ISA kernels: out[hd] = softmax_j(scale q.k_j) v_j over n cache rows ks floats
/// apart; scores: [n] scratch. Exposed for the per-ISA files; not a public entry point.
typedef void (*lk_decode_head_fn)(float *out, float *scores, const float *q, const float *k, const float *v,
                                  int64_t n, int64_t ks, int64_t hd, float scale);
void lk_decode_head_avx2(float *out, float *scores, const float *q, const float *k, const float *v, int64_t n,
                         int64_t ks, int64_t hd, float scale);
void lk_decode_head_avx512(float *out, float *scores, const float *q, const float *k, const float *v, int64_t n,
                           int64_t ks, int64_t hd, float scale);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif

/// Floats of scratch lk_decode_qmatvec needs for this pool and a row length `in`: threads * in16.
size_t lk_decode_qmatvec_scratch_floats(const lk_pool *p, int64_t in);
/// Y = X · Wᵀ for a few rows T (incremental decoding): each row of W is dequantized once into a per-thread
/// buffer (lk_dequantize_row) and dotted with the T rows of X (lk_dot_f32), so W is read once in its
/// quantized form instead of being expanded to fp32 panels. Threads split the out rows (bitwise the same
/// for any thread count). Y: [T, out] (row stride ldy); X: [T, in]; W: [out, in] of lk_type t (any type of
/// lk_type_traits_get, in % block size == 0; other calls do nothing). lk_qmatmul_fwd_ref is the reference.
void lk_decode_qmatvec(lk_pool *p, float *scratch, float *Y, int64_t ldy, const float *X, int t, const void *W,
                       int64_t out, int64_t in, int64_t T);

#ifdef __cplusplus
}
#endif
