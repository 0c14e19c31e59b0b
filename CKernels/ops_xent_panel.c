// Cross-entropy a vocabulary panel at a time (lk_xent_panel_*): reference, finish and drivers. The row kernels of
// each ISA are in ops_rows_tmpl.h.
#include "ops_internal.h"
#include <math.h>

static int ignored(int32_t tg, int64_t V) { return tg < 0 || (int64_t)tg >= V; }

void lk_xent_panel_fwd_ref(float *m, double *s, float *z, const float *logits, int64_t ld, const int32_t *targets,
                           int64_t n, int64_t v0, int64_t P, int64_t V) {
    for (int64_t r = 0; r < n; r++) {
        if (ignored(targets[r], V)) continue;
        const float *x = logits + r * ld;
        float pm = -INFINITY;
        for (int64_t c = 0; c < P; c++) pm = x[c] > pm ? x[c] : pm;
        const float mr = pm > m[r] ? pm : m[r];
        double sum = 0.0;
        for (int64_t c = 0; c < P; c++) sum += exp((double)x[c] - (double)mr);
        s[r] = (pm > m[r] ? s[r] * exp((double)m[r] - (double)pm) : s[r]) + sum;
        m[r] = mr;
        const int64_t tg = targets[r];
        if (tg >= v0 && tg < v0 + P) z[r] = x[tg - v0];
    }
}

void lk_xent_panel_finish(float *losses, float *lse, const float *m, const double *s, const float *z,
                          const int32_t *targets, int64_t n, int64_t V) {
    for (int64_t r = 0; r < n; r++) {
        if (ignored(targets[r], V)) {
            losses[r] = 0.0f;
            lse[r] = 0.0f;
            continue;
        }
        const double l = log(s[r]);
        losses[r] = (float)(l - ((double)z[r] - (double)m[r]));
        lse[r] = (float)((double)m[r] + l);
    }
}

void lk_xent_panel_bwd_ref(float *logits, int64_t ld, const int32_t *targets, const float *lse, int64_t n, int64_t v0,
                           int64_t P, int64_t V, float grad_scale) {
    for (int64_t r = 0; r < n; r++) {
        float *x = logits + r * ld;
        const int32_t tg = targets[r];
        for (int64_t c = 0; c < P; c++)
            x[c] = ignored(tg, V) ? 0.0f : (float)(exp((double)x[c] - (double)lse[r]) * (double)grad_scale);
        if (!ignored(tg, V) && (int64_t)tg >= v0 && (int64_t)tg < v0 + P) x[tg - v0] -= grad_scale;
    }
}

typedef struct {
    const lk_ops_table *k;
    float *m, *z, *logits;
    double *s;
    const float *clogits, *lse;
    const int32_t *targets;
    int64_t ld, v0, P, V;
    float grad_scale;
} panel_ctx;

static void fwd_range(void *c, int64_t r0, int64_t r1) {
    const panel_ctx *a = (const panel_ctx *)c;
    a->k->xent_panel_fwd(a->m + r0, a->s + r0, a->z + r0, a->clogits + r0 * a->ld, a->ld, a->targets + r0, r1 - r0,
                         a->v0, a->P, a->V);
}

static void bwd_range(void *c, int64_t r0, int64_t r1) {
    const panel_ctx *a = (const panel_ctx *)c;
    a->k->xent_panel_bwd(a->logits + r0 * a->ld, a->ld, a->targets + r0, a->lse + r0, r1 - r0, a->v0, a->P, a->V,
                         a->grad_scale);
}

void lk_xent_panel_fwd_isa(lk_isa isa, lk_pool *p, float *m, double *s, float *z, const float *logits, int64_t ld,
                           const int32_t *targets, int64_t n, int64_t v0, int64_t P, int64_t V) {
    panel_ctx c = {.k = lk_ops_table_for(isa), .m = m, .z = z, .s = s, .clogits = logits, .targets = targets,
                   .ld = ld, .v0 = v0, .P = P, .V = V};
    lk_ops_parallel_for(p, n, 1, 2, fwd_range, &c);
}

void lk_xent_panel_bwd_isa(lk_isa isa, lk_pool *p, float *logits, int64_t ld, const int32_t *targets, const float *lse,
                           int64_t n, int64_t v0, int64_t P, int64_t V, float grad_scale) {
    panel_ctx c = {.k = lk_ops_table_for(isa), .logits = logits, .lse = lse, .targets = targets, .ld = ld, .v0 = v0,
                   .P = P, .V = V, .grad_scale = grad_scale};
    lk_ops_parallel_for(p, n, 1, 2, bwd_range, &c);
}

void lk_xent_panel_fwd(lk_pool *p, float *m, double *s, float *z, const float *logits, int64_t ld,
                       const int32_t *targets, int64_t n, int64_t v0, int64_t P, int64_t V) {
    lk_xent_panel_fwd_isa(lk_active_isa(), p, m, s, z, logits, ld, targets, n, v0, P, V);
}

void lk_xent_panel_bwd(lk_pool *p, float *logits, int64_t ld, const int32_t *targets, const float *lse, int64_t n,
                       int64_t v0, int64_t P, int64_t V, float grad_scale) {
    lk_xent_panel_bwd_isa(lk_active_isa(), p, logits, ld, targets, lse, n, v0, P, V, grad_scale);
}
