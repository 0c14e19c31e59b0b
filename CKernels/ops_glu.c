// Gated MLP activations, forward and backward: the scalar references and the threaded per-ISA drivers.
// SwiGLU h = silu(g) * u (Llama, Qwen, Mistral); GeGLU h = gelu_tanh(g) * u (Gemma, HF `gelu_pytorch_tanh`).
// The GeGLU SIMD kernels (ops_rows_tmpl.h) use gelu_tanh(g) = g * sigmoid(2z), z = sqrt(2/pi) (g + 0.044715 g^3),
// which equals 0.5 g (1 + tanh z); its reference uses tanh itself.
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

#define LK_GELU_C 0.79788456080286535588 // sqrt(2/pi)
#define LK_GELU_A 0.044715

void lk_geglu_fwd_ref(float *h, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double x = g[i], t = tanh(LK_GELU_C * (x + LK_GELU_A * x * x * x));
        h[i] = (float)(0.5 * x * (1.0 + t) * (double)u[i]);
    }
}

// d gelu_tanh(g)/dg = 0.5 (1 + t) + 0.5 g (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 g^2), t = tanh z.
void lk_geglu_bwd_ref(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double x = g[i], t = tanh(LK_GELU_C * (x + LK_GELU_A * x * x * x));
        const double gelu = 0.5 * x * (1.0 + t);
        const double d = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * LK_GELU_C * (1.0 + 3.0 * LK_GELU_A * x * x);
        du[i] = (float)((double)dh[i] * gelu);
        dg[i] = (float)((double)dh[i] * (double)u[i] * d);
    }
}

typedef struct {
    const lk_ops_table *k;
    int gelu; // 0: SwiGLU, 1: GeGLU
    float *h, *dg, *du;
    const float *dh, *g, *u;
} glu_ctx;

static void fwd_range(void *c, int64_t r0, int64_t r1) {
    const glu_ctx *a = (const glu_ctx *)c;
    (a->gelu ? a->k->geglu_fwd : a->k->swiglu_fwd)(a->h + r0, a->g + r0, a->u + r0, r1 - r0);
}

static void bwd_range(void *c, int64_t r0, int64_t r1) {
    const glu_ctx *a = (const glu_ctx *)c;
    (a->gelu ? a->k->geglu_bwd : a->k->swiglu_bwd)(a->dg + r0, a->du + r0, a->dh + r0, a->g + r0, a->u + r0, r1 - r0);
}

static void glu_fwd(lk_isa isa, int gelu, lk_pool *p, float *h, const float *g, const float *u, int64_t n) {
    glu_ctx c = {lk_ops_table_for(isa), gelu, h, NULL, NULL, NULL, g, u};
    lk_ops_parallel_for(p, n, 256, 1 << 14, fwd_range, &c);
}

static void glu_bwd(lk_isa isa, int gelu, lk_pool *p, float *dg, float *du, const float *dh, const float *g,
                    const float *u, int64_t n) {
    glu_ctx c = {lk_ops_table_for(isa), gelu, NULL, dg, du, dh, g, u};
    lk_ops_parallel_for(p, n, 256, 1 << 14, bwd_range, &c);
}

void lk_swiglu_fwd_isa(lk_isa isa, lk_pool *p, float *h, const float *g, const float *u, int64_t n) {
    glu_fwd(isa, 0, p, h, g, u, n);
}

void lk_swiglu_bwd_isa(lk_isa isa, lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u,
                       int64_t n) {
    glu_bwd(isa, 0, p, dg, du, dh, g, u, n);
}

void lk_swiglu_fwd(lk_pool *p, float *h, const float *g, const float *u, int64_t n) {
    glu_fwd(lk_active_isa(), 0, p, h, g, u, n);
}

void lk_swiglu_bwd(lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n) {
    glu_bwd(lk_active_isa(), 0, p, dg, du, dh, g, u, n);
}

void lk_geglu_fwd_isa(lk_isa isa, lk_pool *p, float *h, const float *g, const float *u, int64_t n) {
    glu_fwd(isa, 1, p, h, g, u, n);
}

void lk_geglu_bwd_isa(lk_isa isa, lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u,
                      int64_t n) {
    glu_bwd(isa, 1, p, dg, du, dh, g, u, n);
}

void lk_geglu_fwd(lk_pool *p, float *h, const float *g, const float *u, int64_t n) {
    glu_fwd(lk_active_isa(), 1, p, h, g, u, n);
}

void lk_geglu_bwd(lk_pool *p, float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n) {
    glu_bwd(lk_active_isa(), 1, p, dg, du, dh, g, u, n);
}
