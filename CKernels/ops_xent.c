// Cross-entropy over rows of logits (loss, and the gradient written over the logits): reference and drivers.
#include "ops_internal.h"
#include <math.h>

static int ignored(int32_t tg, int64_t V) { return tg < 0 || (int64_t)tg >= V; }

void lk_cross_entropy_fwd_bwd_ref(float *losses, float *logits, const int32_t *targets, int64_t n, int64_t V,
                                  float grad_scale) {
    for (int64_t r = 0; r < n; r++) {
        float *x = logits + r * V;
        if (ignored(targets[r], V)) {
            losses[r] = 0.0f;
            for (int64_t c = 0; c < V; c++) x[c] = 0.0f;
            continue;
        }
        double m = -INFINITY, sum = 0.0;
        for (int64_t c = 0; c < V; c++) m = x[c] > m ? x[c] : m;
        for (int64_t c = 0; c < V; c++) sum += exp((double)x[c] - m);
        const int32_t tg = targets[r];
        losses[r] = (float)(log(sum) - ((double)x[tg] - m));
        for (int64_t c = 0; c < V; c++) {
            const double pc = exp((double)x[c] - m) / sum;
            x[c] = (float)((pc - (c == tg ? 1.0 : 0.0)) * (double)grad_scale);
        }
    }
}

void lk_cross_entropy_fwd_ref(float *losses, const float *logits, const int32_t *targets, int64_t n, int64_t V) {
    for (int64_t r = 0; r < n; r++) {
        const float *x = logits + r * V;
        if (ignored(targets[r], V)) {
            losses[r] = 0.0f;
            continue;
        }
        double m = -INFINITY, sum = 0.0;
        for (int64_t c = 0; c < V; c++) m = x[c] > m ? x[c] : m;
        for (int64_t c = 0; c < V; c++) sum += exp((double)x[c] - m);
        losses[r] = (float)(log(sum) - ((double)x[targets[r]] - m));
    }
}

typedef struct {
    const lk_ops_table *k;
    float *losses, *logits;
    const float *clogits;
    const int32_t *targets;
    int64_t V;
    float grad_scale;
} xent_ctx;

static void fwd_bwd_range(void *c, int64_t r0, int64_t r1) {
    const xent_ctx *a = (const xent_ctx *)c;
    a->k->xent_fwd_bwd(a->losses + r0, a->logits + r0 * a->V, a->targets + r0, r1 - r0, a->V, a->grad_scale);
}

static void fwd_range(void *c, int64_t r0, int64_t r1) {
    const xent_ctx *a = (const xent_ctx *)c;
    a->k->xent_fwd(a->losses + r0, a->clogits + r0 * a->V, a->targets + r0, r1 - r0, a->V);
}

void lk_cross_entropy_fwd_bwd_isa(lk_isa isa, lk_pool *p, float *losses, float *logits, const int32_t *targets,
                                  int64_t n, int64_t V, float grad_scale) {
    xent_ctx c = {lk_ops_table_for(isa), losses, logits, NULL, targets, V, grad_scale};
    lk_ops_parallel_for(p, n, 1, 2, fwd_bwd_range, &c);
}

void lk_cross_entropy_fwd_isa(lk_isa isa, lk_pool *p, float *losses, const float *logits, const int32_t *targets,
                              int64_t n, int64_t V) {
    xent_ctx c = {lk_ops_table_for(isa), losses, NULL, logits, targets, V, 0.0f};
    lk_ops_parallel_for(p, n, 1, 2, fwd_range, &c);
}

void lk_cross_entropy_fwd_bwd(lk_pool *p, float *losses, float *logits, const int32_t *targets, int64_t n, int64_t V,
                              float grad_scale) {
    lk_cross_entropy_fwd_bwd_isa(lk_active_isa(), p, losses, logits, targets, n, V, grad_scale);
}

void lk_cross_entropy_fwd(lk_pool *p, float *losses, const float *logits, const int32_t *targets, int64_t n,
                          int64_t V) {
    lk_cross_entropy_fwd_isa(lk_active_isa(), p, losses, logits, targets, n, V);
}
