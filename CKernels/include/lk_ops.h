// Non-matmul ops of a Llama training step, forward and backward side by side.
//
// Every op has three entry points:
//   lk_<op>_ref(...)        scalar reference, single-threaded, double accumulation: the spec;
//   lk_<op>_isa(isa, ...)   the production path for one ISA level (falls back to scalar when the
//                           CPU lacks it), split over the pool's threads;
//   lk_<op>(...)            dispatched: lk_<op>_isa(lk_active_isa(), ...).
// Threaded ops split work over rows / heads with a fixed partition: every output element is written
// by exactly one thread and is computed the same way whatever the thread count, so results are
// bitwise identical for any pool size. A NULL pool runs on the calling thread.
// Buffers are row-major; shapes are given as [rows, cols].
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "lk_cpu.h"
#include "lk_pool.h"

#ifdef __cplusplus
extern "C" {
#endif

// MARK: - RMSNorm

/// y = x * rstd[t] * w, rstd[t] = 1/sqrt(mean_c(x[t,c]^2) + eps).
/// y, x: [T, C]; rstd: [T] (saved for backward); w: [C].
void lk_rmsnorm_fwd(lk_pool *p, float *y, float *rstd, const float *x, const float *w, int64_t T, int64_t C, float eps);
void lk_rmsnorm_fwd_isa(lk_isa isa, lk_pool *p, float *y, float *rstd, const float *x, const float *w, int64_t T, int64_t C, float eps);
void lk_rmsnorm_fwd_ref(float *y, float *rstd, const float *x, const float *w, int64_t T, int64_t C, float eps);
/// dx (+)= d/dx of sum(dy * y); weights frozen (no dw). accumulate != 0 => dx += result, else dx = result.
/// dx, dy, x: [T, C]; w: [C]; rstd: [T] from the forward.
void lk_rmsnorm_bwd(lk_pool *p, float *dx, const float *dy, const float *x, const float *w, const float *rstd, int64_t T, int64_t C, int accumulate);
void lk_rmsnorm_bwd_isa(lk_isa isa, lk_pool *p, float *dx, const float *dy, const float *x, const float *w, const float *rstd, int64_t T, int64_t C, int accumulate);
void lk_rmsnorm_bwd_ref(float *dx, const float *dy, const float *x, const float *w, const float *rstd, int64_t T, int64_t C, int accumulate);

// MARK: - RoPE (GGUF interleaved layout and NEOX rotate-half layout)

/// inv_freq[i] = 1 / base^(2i/hd) (rounded like HF's float32 computation), divided by freq_factors[i]
/// when freq_factors != NULL (GGUF rope_freqs.weight, Llama 3.1 "llama3" scaling). inv_freq: [hd/2].
void lk_rope_inv_freq(float *inv_freq, int64_t hd, float base, const float *freq_factors);
/// In place on x: [T, H*hd]; for each head the pairs (2i, 2i+1) are rotated by the angle
/// (float)pos[t] * inv_freq[i] (float product and float cos/sin, as in HF). pos: [T].
void lk_rope_fwd(lk_pool *p, float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd);
void lk_rope_fwd_ref(float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd);
/// Backward in place on dx: [T, H*hd]: rotates by -angle (the transpose of the forward).
void lk_rope_bwd(lk_pool *p, float *dx, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd);
void lk_rope_bwd_ref(float *dx, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd);
/// NEOX / HF rotate-half layout (qwen2, qwen3, gemma3): for each head the pairs (i, i + hd/2) are rotated by the
/// same angles; forward and backward as above.
void lk_rope_neox_fwd(lk_pool *p, float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd);
void lk_rope_neox_fwd_ref(float *x, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd);
void lk_rope_neox_bwd(lk_pool *p, float *dx, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd);
void lk_rope_neox_bwd_ref(float *dx, const int32_t *pos, const float *inv_freq, int64_t T, int64_t H, int64_t hd);

// MARK: - Causal grouped-query attention

/// Floats of scratch lk_attention_fwd needs for this pool: a transposed copy of k (B*Hkv*hd*S16, S16 = S rounded up
/// to 16) plus threads * (8*S16 + 4*hd); linear in S, never O(S^2).
size_t lk_attention_scratch_floats(const lk_pool *p, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd);
/// Causal GQA over B rows of S tokens (T = B*S; token b*S+i attends to tokens b*S+j, first_key[b*S+i] <= j <= i).
/// first_key: [T] row-relative index of the first key each query sees, non-decreasing along a row with
/// 0 <= first_key[t] <= its own index (packed examples: the start of the token's example, so attention is
/// block-diagonal causal; a sliding window: max(start, i - window + 1)); NULL = 0 (plain causal, every token of
/// the row). q, out: [T, Hq*hd]; k, v: [T, Hkv*hd]; query head h uses kv head h / (Hq/Hkv) (Hq % Hkv == 0).
/// lse: [B, Hq, S] log-sum-exp of the scaled scores (saved for backward). scale usually 1/sqrt(hd).
/// scratch: lk_attention_scratch_floats(p, ...) floats for the same pool. Calls with Hq % Hkv != 0 or a size <= 0
/// do nothing (the caller validates the model config).
void lk_attention_fwd(lk_pool *p, float *scratch, float *out, float *lse, const float *q, const float *k, const float *v,
                      const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd, float scale);
void lk_attention_fwd_isa(lk_isa isa, lk_pool *p, float *scratch, float *out, float *lse, const float *q, const float *k,
                          const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv,
                          int64_t hd, float scale);
/// Reference (no scratch needed): scores and sums in double.
void lk_attention_fwd_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                          const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd,
                          float scale);
/// Floats of scratch lk_attention_bwd needs for this pool: transposed copies of q, k, v, dout (2*B*(Hq+Hkv)*hd*S16)
/// plus 2*B*Hq*S16 + threads * (8*S16 + 4*hd), linear in S; plus, when G*S16^2 (G = Hq/Hkv) is at most 32M floats
/// (128 MB), an [n, G, S16, S16] buffer: the ds of n key/value heads' query heads (n: enough for 128 work units of 16
/// keys, at most B*Hkv, within 128 MB), computed by the dk/dv pass and read by the dq pass instead of recomputing
/// q·kᵀ and dout·vᵀ (5 products instead of 7; the same results bitwise).
/// Like every part but the per-thread one, the buffer is 0 for B = 0 (so B = 0 with no pool gives the per-thread size).
size_t lk_attention_bwd_scratch_floats(const lk_pool *p, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd);
/// Given dout: [T, Hq*hd] and the forward's out and lse, overwrites dq: [T, Hq*hd], dk, dv: [T, Hkv*hd]
/// (GQA: summed over the query heads sharing a kv head in a fixed order; no racing adds). first_key as in the forward.
void lk_attention_bwd(lk_pool *p, float *scratch, float *dq, float *dk, float *dv, const float *dout, const float *out,
                      const float *lse, const float *q, const float *k, const float *v, const int32_t *first_key,
                      int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd, float scale);
void lk_attention_bwd_isa(lk_isa isa, lk_pool *p, float *scratch, float *dq, float *dk, float *dv, const float *dout,
                          const float *out, const float *lse, const float *q, const float *k, const float *v,
                          const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd,
                          float scale);
/// The backward without the ds buffer (what lk_attention_bwd does when it would pass 128 MB): the dq pass recomputes
/// q·kᵀ and dout·vᵀ. bf16: the products of lk_attention_bwd_bf16. Bitwise equal to the call with the buffer
/// (OpsAttentionTests); same scratch size.
void lk_attention_bwd_recompute(lk_isa isa, int bf16, lk_pool *p, float *scratch, float *dq, float *dk, float *dv,
                                const float *dout, const float *out, const float *lse, const float *q, const float *k,
                                const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv,
                                int64_t hd, float scale);
void lk_attention_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *out, const float *lse,
                          const float *q, const float *k, const float *v, const int32_t *first_key,
                          int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd, float scale);

/// The same attention with the four products (q·kᵀ, p·v; backward dout·vᵀ, ds·k, dsᵀ·q, pᵀ·dout) in bf16: both
/// operands rounded to bf16 (round to nearest even), sums in fp32 (AVX512-BF16 vdpbf16ps); softmax, lse and the
/// row statistics stay fp32. Same scratch as the fp32 calls. Runs the fp32 kernels when lk_attention_bf16_native(hd)
/// is 0. Each product term carries two bf16 roundings (2^-9 relative each); measured on random data against the
/// double reference (OpsAttentionBF16Tests): out and lse within 5e-3 of their largest magnitude, dq, dk, dv within
/// 2e-2 of the largest gradient (at least 0.1).
void lk_attention_fwd_bf16(lk_pool *p, float *scratch, float *out, float *lse, const float *q, const float *k,
                           const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv,
                           int64_t hd, float scale);
void lk_attention_bwd_bf16(lk_pool *p, float *scratch, float *dq, float *dk, float *dv, const float *dout,
                           const float *out, const float *lse, const float *q, const float *k, const float *v,
                           const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd,
                           float scale);
/// 1 when the bf16 attention runs bf16 kernels for head dimension hd (AVX512-BF16 CPU, hd a multiple of 32, at most 512).
int lk_attention_bf16_native(int64_t hd);

// MARK: - SwiGLU

/// h = silu(g) * u, silu(g) = g / (1 + exp(-g)). h, g, u: [n].
void lk_swiglu_fwd(lk_pool *p, float *h, const float *g, const float *u, int64_t n);
void lk_swiglu_fwd_isa(lk_isa isa, lk_pool *p, float *h, const float *g, const float *u, int64_t n);
void lk_swiglu_fwd_ref(float *h, const float *g, const float *u, int64_t n);
/// Overwrites dg = dh * u * silu'(g), du = dh * silu(g). All [n].
void lk_swiglu_bwd(lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);
void lk_swiglu_bwd_isa(lk_isa isa, lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);
void lk_swiglu_bwd_ref(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);

// MARK: - GeGLU (Gemma)

/// h = gelu_tanh(g) * u, gelu_tanh(g) = 0.5 g (1 + tanh(sqrt(2/pi) (g + 0.044715 g^3))). h, g, u: [n].
void lk_geglu_fwd(lk_pool *p, float *h, const float *g, const float *u, int64_t n);
void lk_geglu_fwd_isa(lk_isa isa, lk_pool *p, float *h, const float *g, const float *u, int64_t n);
void lk_geglu_fwd_ref(float *h, const float *g, const float *u, int64_t n);
/// Overwrites dg = dh * u * gelu_tanh'(g), du = dh * gelu_tanh(g). All [n].
void lk_geglu_bwd(lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);
void lk_geglu_bwd_isa(lk_isa isa, lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);
void lk_geglu_bwd_ref(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);

// MARK: - Cross-entropy

/// logits: [n, V] overwritten with dlogits = (softmax - onehot(target)) * grad_scale; losses: [n] = -log softmax[target].
/// targets: [n]; a target outside [0, V) (e.g. -100) marks an ignored row: loss 0, dlogits row all 0.
/// Max-subtracted, sums accumulated in double.
void lk_cross_entropy_fwd_bwd(lk_pool *p, float *losses, float *logits, const int32_t *targets, int64_t n, int64_t V, float grad_scale);
void lk_cross_entropy_fwd_bwd_isa(lk_isa isa, lk_pool *p, float *losses, float *logits, const int32_t *targets, int64_t n, int64_t V, float grad_scale);
void lk_cross_entropy_fwd_bwd_ref(float *losses, float *logits, const int32_t *targets, int64_t n, int64_t V, float grad_scale);
/// Loss only (logits untouched), for eval. Same ignore rule.
void lk_cross_entropy_fwd(lk_pool *p, float *losses, const float *logits, const int32_t *targets, int64_t n, int64_t V);
void lk_cross_entropy_fwd_isa(lk_isa isa, lk_pool *p, float *losses, const float *logits, const int32_t *targets, int64_t n, int64_t V);
void lk_cross_entropy_fwd_ref(float *losses, const float *logits, const int32_t *targets, int64_t n, int64_t V);

/// Cross-entropy a vocabulary panel at a time (for LM heads too large to multiply chunk by chunk of rows): the
/// logits [n, P] (row stride ld) of classes v0..v0+P. Forward folds each panel into the row's running max m
/// (start −inf), Σ exp(x − m) s (start 0, double) and target logit z; after the last panel
/// lk_xent_panel_finish gives lse = m + log s and the loss lse − z (0 for an ignored row, as above). Backward
/// overwrites a panel's logits with the gradient of grad_scale·loss: exp(x − lse)·grad_scale, minus grad_scale at
/// the target (ignored rows 0). The panels need not be visited in order; summed over all panels these equal
/// lk_cross_entropy_fwd / _fwd_bwd up to float rounding.
void lk_xent_panel_fwd(lk_pool *p, float *m, double *s, float *z, const float *logits, int64_t ld,
                       const int32_t *targets, int64_t n, int64_t v0, int64_t P, int64_t V);
void lk_xent_panel_fwd_isa(lk_isa isa, lk_pool *p, float *m, double *s, float *z, const float *logits, int64_t ld,
                           const int32_t *targets, int64_t n, int64_t v0, int64_t P, int64_t V);
void lk_xent_panel_fwd_ref(float *m, double *s, float *z, const float *logits, int64_t ld, const int32_t *targets,
                           int64_t n, int64_t v0, int64_t P, int64_t V);
void lk_xent_panel_finish(float *losses, float *lse, const float *m, const double *s, const float *z,
                          const int32_t *targets, int64_t n, int64_t V);
void lk_xent_panel_bwd(lk_pool *p, float *logits, int64_t ld, const int32_t *targets, const float *lse, int64_t n,
                       int64_t v0, int64_t P, int64_t V, float grad_scale);
void lk_xent_panel_bwd_isa(lk_isa isa, lk_pool *p, float *logits, int64_t ld, const int32_t *targets, const float *lse,
                           int64_t n, int64_t v0, int64_t P, int64_t V, float grad_scale);
void lk_xent_panel_bwd_ref(float *logits, int64_t ld, const int32_t *targets, const float *lse, int64_t n, int64_t v0,
                           int64_t P, int64_t V, float grad_scale);

// MARK: - Optimizer and elementwise helpers

/// One AdamW step, PyTorch semantics (step >= 1), on param, m, v, grad: [n]. g = grad * grad_scale;
/// param *= 1 - lr*wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// param -= (lr / (1-b1^step)) * m / (sqrt(v) / sqrt(1-b2^step) + eps).
/// The float hyperparameters are read as the shortest decimals that round to them (0.999f -> 0.999, as PyTorch's
/// Python floats), so 1 - beta2 etc. match PyTorch's to double precision.
void lk_adamw_step(float *param, float *m, float *v, const float *grad, int64_t n, float lr, float beta1, float beta2,
                   float eps, float weight_decay, int64_t step, float grad_scale);
/// sum x[i]^2 accumulated in double (global-norm gradient clipping). x: [n].
double lk_sum_squares(const float *x, int64_t n);
/// y += alpha * x. y, x: [n].
void lk_axpy(lk_pool *p, float *y, float alpha, const float *x, int64_t n);
void lk_axpy_isa(lk_isa isa, lk_pool *p, float *y, float alpha, const float *x, int64_t n);
void lk_axpy_ref(float *y, float alpha, const float *x, int64_t n);

// MARK: - Embedding

/// out[t, :] = dequant(row ids[t] of table), table rows row_bytes apart, each C elements of lk_type `type`.
/// out: [T, C]; ids: [T] (the caller checks 0 <= ids[t] < rows). Uses lk_dequantize_row (lk_quant.h).
void lk_embed_rows(lk_pool *p, float *out, int type, const void *table, int64_t row_bytes, const int32_t *ids, int64_t T, int64_t C);
void lk_embed_rows_isa(lk_isa isa, lk_pool *p, float *out, int type, const void *table, int64_t row_bytes, const int32_t *ids, int64_t T, int64_t C);
void lk_embed_rows_ref(float *out, int type, const void *table, int64_t row_bytes, const int32_t *ids, int64_t T, int64_t C);

#ifdef __cplusplus
}
#endif
