// RMSNorm forward and backward: the scalar reference and the threaded per-ISA drivers.
#include "ops_internal.h"
#include <math.h>

void lk_rmsnorm_fwd_ref(float *y, float *rstd, const float *x, const float *w, int64_t T, int64_t C, float eps) {
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * C;
        double ss = 0.0;
        for (int64_t c = 0; c < C; c++) ss += (double)xr[c] * (double)xr[c];
        const double r = 1.0 / sqrt(ss / (double)C + (double)eps);
        rstd[t] = (float)r;
        for (int64_t c = 0; c < C; c++) y[t * C + c] = (float)((double)xr[c] * r * (double)w[c]);
    }
}

// y_c = w_c x_c r, r = (mean(x^2) + eps)^(-1/2)  =>  dx_c = dy_c w_c r - x_c r^3/C * sum_k dy_k w_k x_k.
void lk_rmsnorm_bwd_ref(float *dx, const float *dy, const float *x, const float *w, const float *rstd, int64_t T,
                        int64_t C, int accumulate) {
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * C, *dyr = dy + t * C;
        double dot = 0.0;
        for (int64_t c = 0; c < C; c++) dot += (double)dyr[c] * (double)w[c] * (double)xr[c];
        const double r = rstd[t], coef = r * r * r * dot / (double)C;
        for (int64_t c = 0; c < C; c++) {
            const double g = (double)dyr[c] * (double)w[c] * r - (double)xr[c] * coef;
            dx[t * C + c] = (float)(accumulate ? (double)dx[t * C + c] + g : g);
        }
    }
}

typedef struct {
    const lk_ops_table *k;
    float *out, *rstd;
    const float *dy, *x, *w, *rstd_in;
    int64_t C;
    float eps;
    int accumulate;
} rms_ctx;

static void fwd_range(void *c, int64_t r0, int64_t r1) {
    const rms_ctx *a = (const rms_ctx *)c;
    a->k->rmsnorm_fwd(a->out + r0 * a->C, a->rstd + r0, a->x + r0 * a->C, a->w, r1 - r0, a->C, a->eps);
}

static void bwd_range(void *c, int64_t r0, int64_t r1) {
    const rms_ctx *a = (const rms_ctx *)c;
    a->k->rmsnorm_bwd(a->out + r0 * a->C, a->dy + r0 * a->C, a->x + r0 * a->C, a->w, a->rstd_in + r0, r1 - r0, a->C,
                      a->accumulate);
}

void lk_rmsnorm_fwd_isa(lk_isa isa, lk_pool *p, float *y, float *rstd, const float *x, const float *w, int64_t T,
                        int64_t C, float eps) {
    rms_ctx c = {lk_ops_table_for(isa), y, rstd, NULL, x, w, NULL, C, eps, 0};
    lk_ops_parallel_for(p, T, 1, 2, fwd_range, &c);
}

void lk_rmsnorm_bwd_isa(lk_isa isa, lk_pool *p, float *dx, const float *dy, const float *x, const float *w,
                        const float *rstd, int64_t T, int64_t C, int accumulate) {
    rms_ctx c = {lk_ops_table_for(isa), dx, NULL, dy, x, w, rstd, C, 0.0f, accumulate};
    lk_ops_parallel_for(p, T, 1, 2, bwd_range, &c);
}

void lk_rmsnorm_fwd(lk_pool *p, float *y, float *rstd, const float *x, const float *w, int64_t T, int64_t C,
                    float eps) {
    lk_rmsnorm_fwd_isa(lk_active_isa(), p, y, rstd, x, w, T, C, eps);
}

void lk_rmsnorm_bwd(lk_pool *p, float *dx, const float *dy, const float *x, const float *w, const float *rstd,
                    int64_t T, int64_t C, int accumulate) {
    lk_rmsnorm_bwd_isa(lk_active_isa(), p, dx, dy, x, w, rstd, T, C, accumulate);
}
