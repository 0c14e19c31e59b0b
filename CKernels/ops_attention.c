// Causal grouped-query attention, forward and backward: the double-precision reference and the threaded drivers.
// Drivers: keys (and for backward q, dout, v) are first transposed into scratch ([hd, Sp] per head, a copy the size
// of the input; backward also keeps ds of a few key/value heads' query heads for its dq pass, up to 128 MB),
// then work units of 16 rows are taken from a shared counter, head by head, the most expensive first within a head.
// Every output row is computed by one unit in a fixed order, so results do not depend on the schedule or thread
// count.
#include "ops_internal.h"
#include <math.h>
#include <stdatomic.h>
#include <string.h>

#define REF_CHUNK 64 // hd is processed in chunks of this many double accumulators

static double ref_dot(const float *a, const float *b, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return s;
}

void lk_attention_fwd_ref(float *out, float *lse, const float *q, const float *k, const float *v,
                          const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd,
                          float scale) {
    if (Hkv <= 0 || Hq % Hkv != 0) return;
    const int64_t G = Hq / Hkv, qs = Hq * hd, ks = Hkv * hd;
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < S; i++) {
                const float *qi = q + (b * S + i) * qs + h * hd;
                const float *kb = k + b * S * ks + (h / G) * hd, *vb = v + b * S * ks + (h / G) * hd;
                const int64_t lo = lk_attn_first_key(first_key, b, S, i);
                double m = -INFINITY, l = 0.0;
                for (int64_t j = lo; j <= i; j++) {
                    const double s = scale * ref_dot(qi, kb + j * ks, hd);
                    m = s > m ? s : m;
                }
                for (int64_t j = lo; j <= i; j++) l += exp(scale * ref_dot(qi, kb + j * ks, hd) - m);
                lse[(b * Hq + h) * S + i] = (float)(m + log(l));
                for (int64_t d0 = 0; d0 < hd; d0 += REF_CHUNK) {
                    const int64_t nd = hd - d0 < REF_CHUNK ? hd - d0 : REF_CHUNK;
                    double acc[REF_CHUNK] = {0};
                    for (int64_t j = lo; j <= i; j++) {
                        const double pj = exp(scale * ref_dot(qi, kb + j * ks, hd) - m) / l;
                        for (int64_t d = 0; d < nd; d++) acc[d] += pj * (double)vb[j * ks + d0 + d];
                    }
                    for (int64_t d = 0; d < nd; d++) out[(b * S + i) * qs + h * hd + d0 + d] = (float)acc[d];
                }
            }
}

// With p_ij = exp(s_ij - lse_i), s_ij = scale q_i.k_j, D_i = dout_i.out_i, ds_ij = p_ij (dout_i.v_j - D_i):
// dq_i = scale sum_j ds_ij k_j;  dk_j = scale sum_{h in group} sum_{i>=j} ds_ij q_i;  dv_j = sum_h sum_i p_ij dout_i.
void lk_attention_bwd_ref(float *dq, float *dk, float *dv, const float *dout, const float *out, const float *lse,
                          const float *q, const float *k, const float *v, const int32_t *first_key, int64_t B,
                          int64_t S, int64_t Hq, int64_t Hkv, int64_t hd, float scale) {
    if (Hkv <= 0 || Hq % Hkv != 0) return;
    const int64_t G = Hq / Hkv, qs = Hq * hd, ks = Hkv * hd;
#define Q(b, i, h) (q + ((b) * S + (i)) * qs + (h) * hd)
#define DO(b, i, h) (dout + ((b) * S + (i)) * qs + (h) * hd)
#define O(b, i, h) (out + ((b) * S + (i)) * qs + (h) * hd)
#define K(b, j, kh) (k + ((b) * S + (j)) * ks + (kh) * hd)
#define VV(b, j, kh) (v + ((b) * S + (j)) * ks + (kh) * hd)
    for (int64_t b = 0; b < B; b++) {
        for (int64_t h = 0; h < Hq; h++)
            for (int64_t i = 0; i < S; i++) {
                const double D = ref_dot(DO(b, i, h), O(b, i, h), hd), L = lse[(b * Hq + h) * S + i];
                for (int64_t d0 = 0; d0 < hd; d0 += REF_CHUNK) {
                    const int64_t nd = hd - d0 < REF_CHUNK ? hd - d0 : REF_CHUNK;
                    double acc[REF_CHUNK] = {0};
                    for (int64_t j = lk_attn_first_key(first_key, b, S, i); j <= i; j++) {
                        const double p = exp(scale * ref_dot(Q(b, i, h), K(b, j, h / G), hd) - L);
                        const double ds = p * (ref_dot(DO(b, i, h), VV(b, j, h / G), hd) - D);
                        for (int64_t d = 0; d < nd; d++) acc[d] += ds * (double)K(b, j, h / G)[d0 + d];
                    }
                    for (int64_t d = 0; d < nd; d++) dq[(b * S + i) * qs + h * hd + d0 + d] = (float)(scale * acc[d]);
                }
            }
        for (int64_t kh = 0; kh < Hkv; kh++)
            for (int64_t j = 0; j < S; j++)
                for (int64_t d0 = 0; d0 < hd; d0 += REF_CHUNK) {
                    const int64_t nd = hd - d0 < REF_CHUNK ? hd - d0 : REF_CHUNK;
                    double ak[REF_CHUNK] = {0}, av[REF_CHUNK] = {0};
                    for (int64_t h = kh * G; h < (kh + 1) * G; h++)
                        for (int64_t i = j; i < S; i++) {
                            if (lk_attn_first_key(first_key, b, S, i) > j) continue;
                            const double D = ref_dot(DO(b, i, h), O(b, i, h), hd), L = lse[(b * Hq + h) * S + i];
                            const double p = exp(scale * ref_dot(Q(b, i, h), K(b, j, kh), hd) - L);
                            const double ds = p * (ref_dot(DO(b, i, h), VV(b, j, kh), hd) - D);
                            for (int64_t d = 0; d < nd; d++) {
                                ak[d] += ds * (double)Q(b, i, h)[d0 + d];
                                av[d] += p * (double)DO(b, i, h)[d0 + d];
                            }
                        }
                    for (int64_t d = 0; d < nd; d++) {
                        dk[(b * S + j) * ks + kh * hd + d0 + d] = (float)(scale * ak[d]);
                        dv[(b * S + j) * ks + kh * hd + d0 + d] = (float)av[d];
                    }
                }
    }
#undef Q
#undef DO
#undef O
#undef K
#undef VV
}

// MARK: - Threaded drivers

#define UNIT_ROWS 16

/// dst: [hd, Sp] = transpose of S rows (stride `stride`) of hd floats, zero-padded to Sp columns.
static void transpose_head(float *dst, const float *src, int64_t stride, int64_t S, int64_t Sp, int64_t hd) {
    for (int64_t s0 = 0; s0 < S; s0 += 16) {
        const int64_t s1 = s0 + 16 < S ? s0 + 16 : S;
        for (int64_t d = 0; d < hd; d++)
            for (int64_t s = s0; s < s1; s++) dst[d * Sp + s] = src[s * stride + d];
    }
    for (int64_t d = 0; d < hd; d++)
        for (int64_t s = S; s < Sp; s++) dst[d * Sp + s] = 0.0f;
}

typedef struct {
    const lk_ops_table *kern;
    const lk_attn_table *bf; // bf16 kernels (pair layouts in the scratch), or NULL for fp32
    lk_attn_args a;
    float *kt, *vt, *qt, *dot, *lsep, *delta, *thread_scratch;
    const float *o, *lse_in;
    int64_t n_fwd_units, n_dq_units, n_dkv_units, blocks;
    _Atomic int64_t next;
} attn_ctx;

// Phase 1 job j of (forward: B*Hkv) / (backward: B*Hkv*2 + B*Hq*3): one head's transpose or row statistics.
static void prep_job(attn_ctx *c, int64_t job, int backward) {
    const lk_attn_args *a = &c->a;
    const int64_t S = a->S, Sp = a->Sp, hd = a->hd, qs = a->Hq * hd, ks = a->Hkv * hd;
    const int64_t nkv = a->B * a->Hkv, nq = a->B * a->Hq;
    const int64_t hh = hd / 2 * Sp; // one head of pairs (either layout)
    if (job < nkv) {
        const int64_t b = job / a->Hkv, kh = job % a->Hkv;
        const float *src = a->k + b * S * ks + kh * hd;
        if (!c->bf) {
            transpose_head(c->kt + job * hd * Sp, src, ks, S, Sp, hd);
            return;
        }
        c->bf->pairs_t((uint32_t *)a->ktp + job * hh, src, ks, S, Sp, hd);
        if (backward) c->bf->pairs_r((uint32_t *)a->kp + job * hh, src, ks, S, Sp, hd);
        else c->bf->pairs_r((uint32_t *)a->vp + job * hh, a->v + b * S * ks + kh * hd, ks, S, Sp, hd);
        return;
    }
    if (!backward) return;
    job -= nkv;
    if (job < nkv) {
        const int64_t b = job / a->Hkv, kh = job % a->Hkv;
        const float *src = a->v + b * S * ks + kh * hd;
        if (c->bf) c->bf->pairs_t((uint32_t *)a->vtp + job * hh, src, ks, S, Sp, hd);
        else transpose_head(c->vt + job * hd * Sp, src, ks, S, Sp, hd);
        return;
    }
    job -= nkv;
    const int64_t which = job / nq, bh = job % nq, b = bh / a->Hq, h = bh % a->Hq;
    if (which < 2) {
        const float *src = (which == 0 ? a->q : a->dout) + b * S * qs + h * hd;
        if (!c->bf) {
            transpose_head((which == 0 ? c->qt : c->dot) + bh * hd * Sp, src, qs, S, Sp, hd);
            return;
        }
        c->bf->pairs_t((uint32_t *)(which == 0 ? a->qtp : a->dotp) + bh * hh, src, qs, S, Sp, hd);
        c->bf->pairs_r((uint32_t *)(which == 0 ? a->qp : a->dop) + bh * hh, src, qs, S, Sp, hd);
    } else {
        float *lp = c->lsep + bh * Sp, *dl = c->delta + bh * Sp;
        for (int64_t i = 0; i < S; i++) {
            const float *dor = a->dout + (b * S + i) * qs + h * hd, *orow = c->o + (b * S + i) * qs + h * hd;
            float acc = 0.0f;
            for (int64_t d = 0; d < hd; d++) acc += dor[d] * orow[d];
            dl[i] = acc;
            lp[i] = c->lse_in[bh * S + i];
        }
        for (int64_t i = S; i < Sp; i++) dl[i] = lp[i] = 0.0f;
    }
}

static void prep_task(void *ctx, int ti, int nt, int backward) {
    attn_ctx *c = (attn_ctx *)ctx;
    const int64_t nkv = c->a.B * c->a.Hkv, nq = c->a.B * c->a.Hq;
    const int64_t jobs = backward ? 2 * nkv + 3 * nq : nkv;
    int64_t j0, j1;
    lk_ops_split(jobs, ti, nt, &j0, &j1);
    for (int64_t j = j0; j < j1; j++) prep_job(c, j, backward);
}
static void prep_fwd_task(void *ctx, int ti, int nt) { prep_task(ctx, ti, nt, 0); }
static void prep_bwd_task(void *ctx, int ti, int nt) { prep_task(ctx, ti, nt, 1); }

// Units go head by head (consecutive heads share a key/value head): all threads work on the rows of one head, whose
// operands stay in cache, before the next (heads fastest thrashed L3 at long sequences: a 1.4-1.5x slower backward
// at S=2048). Forward unit u: (b, h) = u / blocks, row block = blocks-1 - u % blocks (latest rows, the costliest,
// first, so the pool's last units are the cheapest).
static void fwd_task(void *ctx, int ti, int nt) {
    (void)nt;
    attn_ctx *c = (attn_ctx *)ctx;
    float *scratch = c->thread_scratch + (int64_t)ti * lk_attn_thread_floats(c->a.Sp, c->a.hd);
    for (;;) {
        const int64_t u = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (u >= c->n_fwd_units) break;
        const int64_t bh = u / c->blocks, blk = c->blocks - 1 - u % c->blocks;
        const int64_t i0 = blk * UNIT_ROWS, i1 = i0 + UNIT_ROWS < c->a.S ? i0 + UNIT_ROWS : c->a.S;
        if (c->bf) c->bf->fwd_rows(&c->a, scratch, bh / c->a.Hq, bh % c->a.Hq, i0, i1);
        else c->kern->attn_fwd_rows(&c->a, scratch, bh / c->a.Hq, bh % c->a.Hq, i0, i1);
    }
}

// Backward units, head by head as the forward ones: first the dk/dv ones ((b, kh) = u / blocks, key block ascending =
// costliest first), then the dq ones (row block descending).
static void bwd_task(void *ctx, int ti, int nt) {
    (void)nt;
    attn_ctx *c = (attn_ctx *)ctx;
    float *scratch = c->thread_scratch + (int64_t)ti * lk_attn_thread_floats(c->a.Sp, c->a.hd);
    for (;;) {
        int64_t u = atomic_fetch_add_explicit(&c->next, 1, memory_order_relaxed);
        if (u >= c->n_dkv_units + c->n_dq_units) break;
        if (u < c->n_dkv_units) {
            const int64_t bk = c->a.ds_first + u / c->blocks, blk = u % c->blocks;
            const int64_t j0 = blk * UNIT_ROWS, j1 = j0 + UNIT_ROWS < c->a.S ? j0 + UNIT_ROWS : c->a.S;
            if (c->bf) c->bf->bwd_dkv_rows(&c->a, scratch, bk / c->a.Hkv, bk % c->a.Hkv, j0, j1);
            else c->kern->attn_bwd_dkv_rows(&c->a, scratch, bk / c->a.Hkv, bk % c->a.Hkv, j0, j1);
        } else {
            u -= c->n_dkv_units;
            // query heads of (b, kh) are b*Hq + kh*G .. +G-1, so from the run's first (b, kh) on they are consecutive
            const int64_t G = c->a.Hq / c->a.Hkv;
            const int64_t first = c->a.ds_first;
            const int64_t bh = first / c->a.Hkv * c->a.Hq + first % c->a.Hkv * G + u / c->blocks;
            const int64_t blk = c->blocks - 1 - u % c->blocks;
            const int64_t i0 = blk * UNIT_ROWS, i1 = i0 + UNIT_ROWS < c->a.S ? i0 + UNIT_ROWS : c->a.S;
            if (c->bf) c->bf->bwd_dq_rows(&c->a, scratch, bh / c->a.Hq, bh % c->a.Hq, i0, i1);
            else c->kern->attn_bwd_dq_rows(&c->a, scratch, bh / c->a.Hq, bh % c->a.Hq, i0, i1);
        }
    }
}

size_t lk_attention_scratch_floats(const lk_pool *p, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd) {
    (void)Hq;
    const int64_t Sp = lk_attn_padded(S);
    return (size_t)(B * Hkv * hd * Sp + (int64_t)lk_ops_threads(p) * lk_attn_thread_floats(Sp, hd));
}

/// The backward's ds buffer holds [G, Sp, Sp] floats for each of ds_heads(...) key/value heads worked on at once:
/// enough of them that a run has >= LK_ATTN_DS_UNITS dk/dv units (so short sequences still feed many threads), at
/// most B*Hkv, and at most LK_ATTN_DS_MAX_FLOATS in all. 0 when not even one head fits or `keep` is 0: then the dq
/// pass recomputes q.kT and dout.vT (7 products instead of 5). Depends on the shape only, not on the thread count.
#define LK_ATTN_DS_MAX_FLOATS ((int64_t)32 << 20) // 128 MB: G = 4 (Llama 3 8B, Gemma 3) up to seq 2896
#define LK_ATTN_DS_UNITS 128
static int64_t ds_heads(int keep, int64_t B, int64_t Hq, int64_t Hkv, int64_t Sp) {
    const int64_t per = Hq / Hkv * Sp * Sp, blocks = (Sp + UNIT_ROWS - 1) / UNIT_ROWS;
    int64_t n = (LK_ATTN_DS_UNITS + blocks - 1) / blocks;
    if (n > B * Hkv) n = B * Hkv;
    if (n > LK_ATTN_DS_MAX_FLOATS / per) n = LK_ATTN_DS_MAX_FLOATS / per;
    return keep && n > 0 ? n : 0;
}

size_t lk_attention_bwd_scratch_floats(const lk_pool *p, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd) {
    const int64_t Sp = lk_attn_padded(S);
    return (size_t)(2 * B * Hkv * hd * Sp + 2 * B * Hq * hd * Sp + 2 * B * Hq * Sp +
                    (int64_t)lk_ops_threads(p) * lk_attn_thread_floats(Sp, hd) +
                    ds_heads(B > 0, B, Hq, Hkv, Sp) * (Hq / Hkv) * Sp * Sp);
}

static const lk_attn_table *bf16_kernels(int bf16, int64_t hd) {
    return bf16 && hd % 32 == 0 && hd <= 512 ? lk_attn_bf16_table() : NULL;
}

int lk_attention_bf16_native(int64_t hd) { return bf16_kernels(1, hd) != NULL; }

// bf16: the k region holds ktp then vp (half of it each).
static void attention_fwd(lk_isa isa, int bf16, lk_pool *p, float *scratch, float *out, float *lse, const float *q,
                          const float *k, const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq,
                          int64_t Hkv, int64_t hd, float scale) {
    if (B <= 0 || S <= 0 || Hq <= 0 || Hkv <= 0 || hd <= 0 || Hq % Hkv != 0) return;
    attn_ctx c0 = {0}, *c = &c0;
    const int64_t Sp = lk_attn_padded(S);
    c->kern = lk_ops_table_for(isa);
    c->bf = bf16_kernels(bf16, hd);
    const uint32_t *pairs = (const uint32_t *)(void *)scratch;
    c->a = (lk_attn_args){.out = out, .lse = lse, .q = q, .k = k, .v = v, .kt = scratch,
                          .ktp = pairs, .vp = pairs + B * Hkv * hd / 2 * Sp,
                          .first_key = first_key, .B = B, .S = S, .Sp = Sp, .Hq = Hq, .Hkv = Hkv, .hd = hd, .scale = scale};
    c->kt = scratch;
    c->thread_scratch = scratch + B * Hkv * hd * Sp;
    c->blocks = (S + UNIT_ROWS - 1) / UNIT_ROWS;
    c->n_fwd_units = c->blocks * B * Hq;
    lk_pool_run(p, prep_fwd_task, c);
    atomic_store(&c->next, 0);
    lk_pool_run(p, fwd_task, c);
}

// bf16: the k region holds ktp then kp, the v region vtp, the q region qtp then qp, the dout region dotp then dop.
// keep_ds: keep ds for the dq pass when it fits (0: recompute, the same results bitwise).
static void attention_bwd(lk_isa isa, int bf16, int keep_ds, lk_pool *p, float *scratch, float *dq, float *dk,
                          float *dv, const float *dout, const float *out, const float *lse, const float *q,
                          const float *k, const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv,
                          int64_t hd, float scale) {
    if (B <= 0 || S <= 0 || Hq <= 0 || Hkv <= 0 || hd <= 0 || Hq % Hkv != 0) return;
    attn_ctx c0 = {0}, *c = &c0;
    const int64_t Sp = lk_attn_padded(S);
    c->kern = lk_ops_table_for(isa);
    c->bf = bf16_kernels(bf16, hd);
    c->kt = scratch;
    c->vt = c->kt + B * Hkv * hd * Sp;
    c->qt = c->vt + B * Hkv * hd * Sp;
    c->dot = c->qt + B * Hq * hd * Sp;
    c->lsep = c->dot + B * Hq * hd * Sp;
    c->delta = c->lsep + B * Hq * Sp;
    c->thread_scratch = c->delta + B * Hq * Sp;
    c->o = out;
    c->lse_in = lse;
    c->a = (lk_attn_args){.dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k, .v = v,
                          .kt = c->kt, .vt = c->vt, .qt = c->qt, .dot = c->dot, .lsep = c->lsep, .delta = c->delta,
                          .first_key = first_key, .B = B, .S = S, .Sp = Sp, .Hq = Hq, .Hkv = Hkv, .hd = hd, .scale = scale};
    const int64_t hkv = B * Hkv * hd / 2 * Sp, hq = B * Hq * hd / 2 * Sp; // pairs in half of a region
    c->a.ktp = (const uint32_t *)(void *)c->kt;
    c->a.kp = c->a.ktp + hkv;
    c->a.vtp = (const uint32_t *)(void *)c->vt;
    c->a.qtp = (const uint32_t *)(void *)c->qt;
    c->a.qp = c->a.qtp + hq;
    c->a.dotp = (const uint32_t *)(void *)c->dot;
    c->a.dop = c->a.dotp + hq;
    c->blocks = (S + UNIT_ROWS - 1) / UNIT_ROWS;
    const int64_t nds = ds_heads(keep_ds, B, Hq, Hkv, Sp);
    c->a.dsbuf = nds ? c->thread_scratch + (int64_t)lk_ops_threads(p) * lk_attn_thread_floats(Sp, hd) : NULL;
    lk_pool_run(p, prep_bwd_task, c);
    if (!nds) { // one run: all dk/dv units, then all dq units
        c->n_dq_units = c->blocks * B * Hq;
        c->n_dkv_units = c->blocks * B * Hkv;
        atomic_store(&c->next, 0);
        lk_pool_run(p, bwd_task, c);
        return;
    }
    // nds key/value heads at a time: their dk/dv units store ds, then (after the pool's barrier) the dq units of their
    // query heads read it.
    for (int64_t first = 0; first < B * Hkv; first += nds) {
        const int64_t n = first + nds <= B * Hkv ? nds : B * Hkv - first;
        c->a.ds_first = first;
        c->n_dkv_units = n * c->blocks;
        c->n_dq_units = 0;
        atomic_store(&c->next, 0);
        lk_pool_run(p, bwd_task, c);
        c->n_dkv_units = 0;
        c->n_dq_units = n * (Hq / Hkv) * c->blocks;
        atomic_store(&c->next, 0);
        lk_pool_run(p, bwd_task, c);
    }
}

void lk_attention_fwd_isa(lk_isa isa, lk_pool *p, float *scratch, float *out, float *lse, const float *q, const float *k,
                          const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv,
                          int64_t hd, float scale) {
    attention_fwd(isa, 0, p, scratch, out, lse, q, k, v, first_key, B, S, Hq, Hkv, hd, scale);
}

void lk_attention_bwd_isa(lk_isa isa, lk_pool *p, float *scratch, float *dq, float *dk, float *dv, const float *dout,
                          const float *out, const float *lse, const float *q, const float *k, const float *v,
                          const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd,
                          float scale) {
    attention_bwd(isa, 0, 1, p, scratch, dq, dk, dv, dout, out, lse, q, k, v, first_key, B, S, Hq, Hkv, hd, scale);
}

void lk_attention_fwd_bf16(lk_pool *p, float *scratch, float *out, float *lse, const float *q, const float *k,
                           const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv,
                           int64_t hd, float scale) {
    attention_fwd(lk_active_isa(), 1, p, scratch, out, lse, q, k, v, first_key, B, S, Hq, Hkv, hd, scale);
}

void lk_attention_bwd_bf16(lk_pool *p, float *scratch, float *dq, float *dk, float *dv, const float *dout,
                           const float *out, const float *lse, const float *q, const float *k, const float *v,
                           const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd,
                           float scale) {
    attention_bwd(lk_active_isa(), 1, 1, p, scratch, dq, dk, dv, dout, out, lse, q, k, v, first_key, B, S, Hq, Hkv, hd,
                  scale);
}

void lk_attention_bwd_recompute(lk_isa isa, int bf16, lk_pool *p, float *scratch, float *dq, float *dk, float *dv,
                                const float *dout, const float *out, const float *lse, const float *q, const float *k,
                                const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv,
                                int64_t hd, float scale) {
    attention_bwd(isa, bf16, 0, p, scratch, dq, dk, dv, dout, out, lse, q, k, v, first_key, B, S, Hq, Hkv, hd, scale);
}

#if !defined(__x86_64__)
const lk_attn_table *lk_attn_bf16_table(void) { return NULL; }
#endif

void lk_attention_fwd(lk_pool *p, float *scratch, float *out, float *lse, const float *q, const float *k,
                      const float *v, const int32_t *first_key, int64_t B, int64_t S, int64_t Hq, int64_t Hkv,
                      int64_t hd, float scale) {
    lk_attention_fwd_isa(lk_active_isa(), p, scratch, out, lse, q, k, v, first_key, B, S, Hq, Hkv, hd, scale);
}

void lk_attention_bwd(lk_pool *p, float *scratch, float *dq, float *dk, float *dv, const float *dout, const float *out,
                      const float *lse, const float *q, const float *k, const float *v, const int32_t *first_key,
                      int64_t B, int64_t S, int64_t Hq, int64_t Hkv, int64_t hd, float scale) {
    lk_attention_bwd_isa(lk_active_isa(), p, scratch, dq, dk, dv, dout, out, lse, q, k, v, first_key, B, S, Hq, Hkv,
                         hd, scale);
}
