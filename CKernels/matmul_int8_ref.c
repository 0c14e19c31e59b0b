// The int8 products' reference arithmetic (see lk_matmul_int8.h): the symmetric per-group quantizer used for both
// operands, the scalar microkernel, and the spec of one forward product element.
#include "lk_matmul_int8.h"
#include "lk_matmul_int8_kernel.h"
#include <math.h>
#include <stdlib.h>

#pragma STDC FP_CONTRACT OFF

int lk_int8_type_supported(lk_type t) {
    switch (t) {
    case LK_Q8_0: case LK_Q4_0: case LK_Q4_1: case LK_Q5_0: case LK_Q5_1: case LK_Q4_K: case LK_Q5_K: case LK_Q6_K:
        return 1;
    default: return 0;
    }
}

// x·mul (or x) quantized per group.
static void quantize_scaled(int8_t *q, float *d, const float *x, const float *mul, int64_t n, int G) {
    for (int64_t g = 0, k0 = 0; k0 < n; g++, k0 += G) {
        const int64_t len = n - k0 < G ? n - k0 : G;
        float amax = 0;
        for (int64_t i = 0; i < len; i++) amax = fmaxf(amax, fabsf(mul ? x[k0 + i] * mul[k0 + i] : x[k0 + i]));
        const float dg = amax / 127.0f, id = dg != 0 ? 1.0f / dg : 0.0f;
        for (int64_t i = 0; i < len; i++)
            q[k0 + i] = (int8_t)lk_i8_round_even((mul ? x[k0 + i] * mul[k0 + i] : x[k0 + i]) * id);
        d[g] = dg;
    }
}

void lk_int8_quantize_row_ref(int8_t *q, float *d, const float *x, int64_t n, int G) { quantize_scaled(q, d, x, NULL, n, G); }

void lk_i8_absmax_ref(float *m, const float *x, int64_t ldx, int64_t T, int64_t n) {
    for (int64_t c = 0; c < n; c++) m[c] = 0;
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < n; c++) m[c] = fmaxf(m[c], fabsf(x[t * ldx + c]));
}

void lk_int8_smoothing_ref(float *s, const float *x, int64_t ldx, int64_t T, int64_t n) {
    lk_i8_absmax_ref(s, x, ldx, T, n);
    for (int64_t c = 0; c < n; c++) s[c] = lk_i8_smoothing(s[c]);
}

void lk_i8_quant_ref(int8_t *q, float *d, int32_t *sum, const float *x, const float *mul, int64_t n, int G, int flip) {
    quantize_scaled(q, d, x, mul, n, G);
    if (sum)
        for (int64_t g = 0, k0 = 0; k0 < n; g++, k0 += G) {
            int32_t s = 0;
            for (int64_t k = k0; k < n && k < k0 + G; k++) s += q[k];
            sum[g] = 128 * s;
        }
    if (flip)
        for (int64_t i = 0; i < n; i++) q[i] = (int8_t)((uint8_t)q[i] ^ (uint8_t)flip);
}

void lk_i8_pack_ref(int8_t *bp, float *bs, int32_t *bc, const float *src, int64_t ld, int64_t len) {
    for (int j = 0; j < 32; j++) {
        float amax = 0;
        for (int64_t k = 0; k < len; k++) amax = fmaxf(amax, fabsf(src[k * ld + j]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        int32_t s = 0;
        for (int64_t k = 0; k < len; k++) {
            const int v = lk_i8_round_even(src[k * ld + j] * id);
            bp[((k >> 2) * 32 + j) * 4 + (k & 3)] = (int8_t)v;
            s += v;
        }
        bs[j] = d;
        bc[j] = 128 * s;
    }
}

void lk_i8_kernel_ref(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const int8_t *bp,
                      const float *bs, const int32_t *bc, int64_t ng, int G, int mr, int nr, int add) {
    (void)bc;
    for (int r = 0; r < mr; r++) {
        for (int j = 0; j < nr; j++) {
            float f = 0;
            for (int64_t g = 0; g < ng; g++) {
                int32_t isum = 0;
                for (int i = 0; i < G; i++) {
                    const int64_t k = g * G + i;
                    isum += (int32_t)a[r][k] * bp[((k >> 2) * 32 + j) * 4 + (k & 3)];
                }
                f = fmaf((float)isum, bs[g * 32 + j] * ad[r][g], f);
            }
            C[r * ldc + j] = add ? C[r * ldc + j] + f : f;
        }
    }
}

double lk_int8_dot_ref(lk_type t, const void *w, const float *s, const int8_t *q, const float *d, int64_t n) {
    if (!lk_int8_type_supported(t) || n <= 0) return 0;
    float *row = (float *)malloc((size_t)n * sizeof(float));
    int8_t *wi = (int8_t *)malloc((size_t)n);
    float *sw = (float *)malloc((size_t)(n / 32 + 1) * sizeof(float));
    double acc = 0;
    if (row && wi && sw) {
        lk_dequantize_row_ref(t, row, w, n);
        quantize_scaled(wi, sw, row, s, n, LK_INT8_GROUP);
        for (int64_t g = 0, k0 = 0; k0 < n; g++, k0 += LK_INT8_GROUP) {
            int64_t isum = 0;
            for (int64_t k = k0; k < n && k < k0 + LK_INT8_GROUP; k++) isum += (int64_t)q[k] * wi[k];
            acc += (double)d[g] * sw[g] * (double)isum;
        }
    }
    free(row); free(wi); free(sw);
    return acc;
}
