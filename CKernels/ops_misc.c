// Kernel-table selection, y += alpha*x, and the sum of squares for gradient clipping.
#include "ops_internal.h"

const lk_ops_table *lk_ops_table_for(lk_isa isa) {
    if (!lk_isa_supported(isa)) return &lk_ops_table_scalar;
    switch (isa) {
#if defined(__x86_64__)
    case LK_ISA_AVX512: return &lk_ops_table_avx512;
    case LK_ISA_AVX2: return &lk_ops_table_avx2;
#endif
#if defined(__aarch64__)
    case LK_ISA_NEON: return &lk_ops_table_neon;
#endif
    default: return &lk_ops_table_scalar;
    }
}

// MARK: - axpy

void lk_axpy_ref(float *y, float alpha, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)((double)y[i] + (double)alpha * (double)x[i]);
}

typedef struct {
    const lk_ops_table *k;
    float *y;
    const float *x;
    float alpha;
} axpy_ctx;

static void axpy_range(void *c, int64_t r0, int64_t r1) {
    const axpy_ctx *a = (const axpy_ctx *)c;
    a->k->axpy(a->y + r0, a->alpha, a->x + r0, r1 - r0);
}

void lk_axpy_isa(lk_isa isa, lk_pool *p, float *y, float alpha, const float *x, int64_t n) {
    axpy_ctx c = {lk_ops_table_for(isa), y, x, alpha};
    lk_ops_parallel_for(p, n, 256, 1 << 16, axpy_range, &c);
}

void lk_axpy(lk_pool *p, float *y, float alpha, const float *x, int64_t n) {
    lk_axpy_isa(lk_active_isa(), p, y, alpha, x, n);
}

// MARK: - Sum of squares

double lk_sum_squares(const float *x, int64_t n) {
    // Eight independent double accumulators (a fixed order, so the result depends only on x).
    double s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int u = 0; u < 8; u++) s[u] += (double)x[i + u] * (double)x[i + u];
    for (; i < n; i++) s[0] += (double)x[i] * (double)x[i];
    return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}
