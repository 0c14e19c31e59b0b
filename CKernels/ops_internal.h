// Private to the ops: the per-ISA kernel tables behind lk_ops.h and helpers for splitting work over the pool.
// The kernels themselves are written once in ops_rows_tmpl.h / ops_attention_tmpl.h and instantiated per ISA
// (ops_scalar.c, x86/ops_avx.c, arm/ops_neon.c).
#pragma once
#include "lk_ops.h"

/// Rows [*r0, *r1) of n that thread ti of nt owns: contiguous, fixed for a given nt.
static inline void lk_ops_split(int64_t n, int ti, int nt, int64_t *r0, int64_t *r1) {
    *r0 = n * ti / nt;
    *r1 = n * (ti + 1) / nt;
}

/// Number of threads a pool runs with (1 for NULL).
static inline int lk_ops_threads(const lk_pool *p) { return lk_pool_size(p); }

/// Work on items [r0, r1) of a parallel loop.
typedef void (*lk_ops_range_fn)(void *ctx, int64_t r0, int64_t r1);
typedef struct lk_ops_for {
    lk_ops_range_fn fn;
    void *ctx;
    int64_t n, grain;
} lk_ops_for;
static inline void lk_ops_for_task(void *c, int ti, int nt) {
    const lk_ops_for *f = (const lk_ops_for *)c;
    const int64_t blocks = (f->n + f->grain - 1) / f->grain;
    int64_t b0, b1;
    lk_ops_split(blocks, ti, nt, &b0, &b1);
    const int64_t r0 = b0 * f->grain, r1 = b1 * f->grain < f->n ? b1 * f->grain : f->n;
    if (r0 < r1) f->fn(f->ctx, r0, r1);
}
/// Runs fn over [0, n) split into contiguous ranges, one per thread, with boundaries on multiples of `grain`
/// (so an element is treated the same way, vector body or tail, whatever the thread count). Small loops
/// (n < min_parallel) run on the calling thread.
static inline void lk_ops_parallel_for(lk_pool *p, int64_t n, int64_t grain, int64_t min_parallel, lk_ops_range_fn fn,
                                       void *ctx) {
    if (n <= 0) return;
    lk_ops_for f = {fn, ctx, n, grain < 1 ? 1 : grain};
    lk_pool_run(n < min_parallel ? NULL : p, lk_ops_for_task, &f);
}

/// Attention keys are stored transposed and padded to a multiple of this many columns.
#define LK_ATTN_PAD 16
static inline int64_t lk_attn_padded(int64_t S) { return (S + LK_ATTN_PAD - 1) / LK_ATTN_PAD * LK_ATTN_PAD; }
/// Scratch floats each thread's attention kernels use: two [4, Sp] tiles and a [4, hd] sink.
static inline int64_t lk_attn_thread_floats(int64_t Sp, int64_t hd) { return 8 * Sp + 4 * hd; }

/// First key query i of row b sees (row-relative).
static inline int64_t lk_attn_first_key(const int32_t *first_key, int64_t b, int64_t S, int64_t i) {
    return first_key ? first_key[b * S + i] : 0;
}
/// One past the last query of row b that sees key j: the first i > j with first_key[i] > j (S when none), searched
/// from `from` (a lower bound: the answer for an earlier key, first_key being non-decreasing).
static inline int64_t lk_attn_last_query_end(const int32_t *first_key, int64_t b, int64_t S, int64_t j, int64_t from) {
    if (!first_key) return S;
    int64_t i = from > j + 1 ? from : j + 1;
    const int32_t *fk = first_key + b * S;
    while (i < S && fk[i] <= j) i++;
    return i;
}

/// Geometry and buffers of one attention call, shared by forward and backward.
typedef struct lk_attn_args {
    float *out, *lse;            // fwd outputs: [T, Hq*hd], [B, Hq, S]
    float *dq, *dk, *dv;         // bwd outputs: [T, Hq*hd], [T, Hkv*hd], [T, Hkv*hd]
    const float *dout;           // bwd input [T, Hq*hd]
    const float *q, *k, *v;      // [T, Hq*hd], [T, Hkv*hd], [T, Hkv*hd]
    const float *kt, *vt;        // transposed k, v: [B, Hkv, hd, Sp] (zero padded columns)
    const float *qt, *dot;       // bwd: transposed q, dout: [B, Hq, hd, Sp]
    const float *lsep, *delta;   // bwd: lse and rowsum(dout*out), padded: [B, Hq, Sp]
    // bwd, or NULL: ds of the G query heads of the key/value heads (b*Hkv + kh) from ds_first on being worked on,
    // [heads, G, Sp/4, Sp, 4] (4-key group, query, key in the group), written by the dk/dv pass and read by the dq
    // pass instead of recomputing q.kT and dout.vT
    float *dsbuf;
    int64_t ds_first; // bwd: the first (b*Hkv + kh) of the current run of units (0 when one run takes all heads)
    // bf16 kernels (lk_attn_bf16_table) read bf16 pairs (low half the first element) instead of kt, vt, qt, dot and
    // the rows: transposed pairs along hd, ktp: [B, Hkv, hd/2, Sp] = (k[j][2p], k[j][2p+1]), likewise vtp, qtp, dotp
    // ([B, Hq, hd/2, Sp] for q, dout); row pairs along the sequence, vp: [B, Hkv, Sp/2, hd] = (v[2m][d], v[2m+1][d]),
    // likewise kp, qp, dop (zero past S).
    const uint32_t *ktp, *vtp, *qtp, *dotp, *kp, *vp, *qp, *dop;
    const int32_t *first_key;    // [T] first key (row-relative) each query sees, non-decreasing along a row; NULL = 0
    int64_t B, S, Sp, Hq, Hkv, hd;
    float scale;
} lk_attn_args;

/// Row kernels of one ISA; every pointer is pre-offset to the first row the call handles.
typedef struct lk_ops_table {
    void (*rmsnorm_fwd)(float *y, float *rstd, const float *x, const float *w, int64_t T, int64_t C, float eps);
    void (*rmsnorm_bwd)(float *dx, const float *dy, const float *x, const float *w, const float *rstd, int64_t T,
                        int64_t C, int accumulate);
    void (*swiglu_fwd)(float *h, const float *g, const float *u, int64_t n);
    void (*swiglu_bwd)(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);
    void (*xent_fwd_bwd)(float *losses, float *logits, const int32_t *targets, int64_t n, int64_t V, float grad_scale);
    void (*xent_fwd)(float *losses, const float *logits, const int32_t *targets, int64_t n, int64_t V);
    void (*axpy)(float *y, float alpha, const float *x, int64_t n);
    // Attention. scratch: lk_attn_thread_floats(Sp, hd) floats owned by the calling thread.
    // fwd_rows: query rows [i0, i1) of sequence b, query head h -> out, lse.
    void (*attn_fwd_rows)(const lk_attn_args *a, float *scratch, int64_t b, int64_t h, int64_t i0, int64_t i1);
    // bwd_dq_rows: query rows [i0, i1) of (b, h) -> dq.
    void (*attn_bwd_dq_rows)(const lk_attn_args *a, float *scratch, int64_t b, int64_t h, int64_t i0, int64_t i1);
    // bwd_dkv_rows: key rows [j0, j1) of (b, kv head kh) -> dk, dv summed over the group's query heads in order.
    void (*attn_bwd_dkv_rows)(const lk_attn_args *a, float *scratch, int64_t b, int64_t kh, int64_t j0, int64_t j1);
    void (*geglu_fwd)(float *h, const float *g, const float *u, int64_t n);
    void (*geglu_bwd)(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);
    void (*xent_panel_fwd)(float *m, double *s, float *z, const float *logits, int64_t ld, const int32_t *targets,
                           int64_t n, int64_t v0, int64_t P, int64_t V);
    void (*xent_panel_bwd)(float *logits, int64_t ld, const int32_t *targets, const float *lse, int64_t n, int64_t v0,
                           int64_t P, int64_t V, float grad_scale);
} lk_ops_table;

/// Attention row kernels with bf16 products (vdpbf16ps): the same contracts as lk_ops_table's attn_* entries.
typedef struct lk_attn_table {
    void (*fwd_rows)(const lk_attn_args *a, float *scratch, int64_t b, int64_t h, int64_t i0, int64_t i1);
    void (*bwd_dq_rows)(const lk_attn_args *a, float *scratch, int64_t b, int64_t h, int64_t i0, int64_t i1);
    void (*bwd_dkv_rows)(const lk_attn_args *a, float *scratch, int64_t b, int64_t kh, int64_t j0, int64_t j1);
    // One head's S rows (stride `stride`) of hd floats as transposed pairs [hd/2, Sp] / row pairs [Sp/2, hd].
    void (*pairs_t)(uint32_t *dst, const float *src, int64_t stride, int64_t S, int64_t Sp, int64_t hd);
    void (*pairs_r)(uint32_t *dst, const float *src, int64_t stride, int64_t S, int64_t Sp, int64_t hd);
} lk_attn_table;
/// The AVX512-BF16 attention kernels, or NULL when this CPU (or build) has none.
const lk_attn_table *lk_attn_bf16_table(void);

extern const lk_ops_table lk_ops_table_scalar;
#if defined(__x86_64__)
extern const lk_ops_table lk_ops_table_avx2;
extern const lk_ops_table lk_ops_table_avx512;
#endif
#if defined(__aarch64__)
extern const lk_ops_table lk_ops_table_neon;
#endif

/// The kernels for `isa`, or the scalar ones when the CPU (or this build) lacks it.
const lk_ops_table *lk_ops_table_for(lk_isa isa);
