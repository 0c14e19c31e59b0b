// SwiGLU h = silu(g) * u, forward and backward: the scalar reference and the threaded per-ISA drivers.
#include "ops_internal.h"
#include <math.h>

void lk_swiglu_fwd_ref(float *h, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double gi = g[i], s = 1.0 / (1.0 + exp(-gi));
        h[i] = (float)(gi * s * (double)u[i]);
    }
}

// d silu(g)/dg = s (1 + g (1 - s)), s = sigmoid(g).
void lk_swiglu_bwd_ref(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double gi = g[i], s = 1.0 / (1.0 + exp(-gi));
        du[i] = (float)((double)dh[i] * gi * s);
        dg[i] = (float)((double)dh[i] * (double)u[i] * s * (1.0 + gi * (1.0 - s)));
    }
}

typedef struct {
    const lk_ops_table *k;
    float *h, *dg, *du;
    const float *dh, *g, *u;
} swiglu_ctx;

static void fwd_range(void *c, int64_t r0, int64_t r1) {
    const swiglu_ctx *a = (const swiglu_ctx *)c;
    a->k->swiglu_fwd(a->h + r0, a->g + r0, a->u + r0, r1 - r0);
}

static void bwd_range(void *c, int64_t r0, int64_t r1) {
    const swiglu_ctx *a = (const swiglu_ctx *)c;
    a->k->swiglu_bwd(a->dg + r0, a->du + r0, a->dh + r0, a->g + r0, a->u + r0, r1 - r0);
}

void lk_swiglu_fwd_isa(lk_isa isa, lk_pool *p, float *h, const float *g, const float *u, int64_t n) {
    swiglu_ctx c = {lk_ops_table_for(isa), h, NULL, NULL, NULL, g, u};
    lk_ops_parallel_for(p, n, 256, 1 << 14, fwd_range, &c);
}

void lk_swiglu_bwd_isa(lk_isa isa, lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u,
                       int64_t n) {
    swiglu_ctx c = {lk_ops_table_for(isa), NULL, dg, du, dh, g, u};
    lk_ops_parallel_for(p, n, 256, 1 << 14, bwd_range, &c);
}

void lk_swiglu_fwd(lk_pool *p, float *h, const float *g, const float *u, int64_t n) {
    lk_swiglu_fwd_isa(lk_active_isa(), p, h, g, u, n);
}

void lk_swiglu_bwd(lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n) {
    lk_swiglu_bwd_isa(lk_active_isa(), p, dg, du, dh, g, u, n);
}
