// bf16 products on a W packed once (see lk_matmul_bf16.h): the frozen LM head is multiplied chunk by
// chunk of rows, and packing it once saves dequantizing and rounding all of it for every chunk.
#include "lk_matmul_bf16.h"
#include "lk_matmul_bf16_kernel.h"
#include <stdlib.h>

#define PACK_ROWS 64   // rows of W dequantized at a time by the backward layout (even)

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

int64_t lk_bf16_packed_bytes(int64_t out, int64_t in, int bwd) {
    if (out <= 0 || in <= 0) return 0;
    const int64_t cols = bwd ? in : out, sum = bwd ? out : in;
    return (cols + 31) / 32 * 32 * ((sum + 1) / 2) * 4;
}

typedef struct pack_args {
    lk_bf16_impl m;
    uint32_t *packed;
    lk_type t;
    const uint8_t *W;
    int64_t out, in, row_bytes;
    int bwd;
    int failed;
} pack_args;

static void pack_task(void *ctx, int ti, int nt) {
    pack_args *g = (pack_args *)ctx;
    const int64_t kp_in = (g->in + 1) / 2, kp_out = (g->out + 1) / 2;
    if (!g->bwd) {
        // Strips of 32 rows of W: [strip][in pairs][32].
        const int64_t strips = (g->out + 31) / 32, s0 = strips * ti / nt, s1 = strips * (ti + 1) / nt;
        float *tmp = (float *)malloc((size_t)(32 * g->in) * sizeof(float));
        if (!tmp) { g->failed = 1; return; }
        for (int64_t s = s0; s < s1; s++) {
            const int64_t nb = min64(32, g->out - s * 32);
            for (int64_t j = 0; j < nb; j++) lk_dequantize_row(g->t, tmp + j * g->in, g->W + (s * 32 + j) * g->row_bytes, g->in);
            g->m.pack_rows(g->packed + s * kp_in * 32, tmp, g->in, nb, g->in);
        }
        free(tmp);
    } else {
        // Bands of PACK_ROWS rows of W, each written into every column strip: [strip][out pairs][32].
        const int64_t bands = (g->out + PACK_ROWS - 1) / PACK_ROWS, b0 = bands * ti / nt, b1 = bands * (ti + 1) / nt;
        const int64_t strips = (g->in + 31) / 32;
        float *tmp = (float *)malloc((size_t)(PACK_ROWS * g->in) * sizeof(float));
        if (!tmp) { g->failed = 1; return; }
        for (int64_t b = b0; b < b1; b++) {
            const int64_t r0 = b * PACK_ROWS, kc = min64(PACK_ROWS, g->out - r0);
            for (int64_t k = 0; k < kc; k++) lk_dequantize_row(g->t, tmp + k * g->in, g->W + (r0 + k) * g->row_bytes, g->in);
            for (int64_t s = 0; s < strips; s++)
                g->m.pack_cols(g->packed + (s * kp_out + r0 / 2) * 32, tmp + s * 32, g->in, kc, min64(32, g->in - s * 32));
        }
        free(tmp);
    }
}

int lk_bf16_pack_weights_isa(lk_isa isa, lk_pool *p, uint32_t *packed, lk_type t, const void *W, int64_t out,
                             int64_t in, int bwd) {
    if (!lk_type_traits_get(t) || out <= 0 || in <= 0 || in % lk_type_block_size(t) != 0 || !packed) return -1;
    pack_args g = {.m = lk_bf16_impl_for(isa), .packed = packed, .t = t, .W = (const uint8_t *)W, .out = out, .in = in,
                   .row_bytes = in / lk_type_block_size(t) * lk_type_block_bytes(t), .bwd = bwd};
    lk_pool_run(lk_pool_size(p) > 1 ? p : NULL, pack_task, &g);
    return g.failed ? -1 : 0;
}

int lk_bf16_pack_weights(lk_pool *p, uint32_t *packed, lk_type t, const void *W, int64_t out, int64_t in, int bwd) {
    return lk_bf16_pack_weights_isa(LK_ISA_AVX512, p, packed, t, W, out, in, bwd);
}

void lk_matmul_fwd_bf16_packed_isa(lk_isa isa, lk_pool *p, float *Y, int64_t ldy, const float *X, int64_t ldx,
                                   const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate) {
    lk_bf16_product_packed(isa, p, NULL, 0, Y, ldy, X, ldx, packed, out, in, T, accumulate);
}

void lk_matmul_bwd_data_bf16_packed_isa(lk_isa isa, lk_pool *p, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                                        const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate) {
    lk_bf16_product_packed(isa, p, NULL, 1, dX, lddx, dY, lddy, packed, out, in, T, accumulate);
}

void lk_matmul_fwd_bf16_packed(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx,
                               const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate) {
    lk_bf16_product_packed(LK_ISA_AVX512, p, scratch, 0, Y, ldy, X, ldx, packed, out, in, T, accumulate);
}

void lk_matmul_bwd_data_bf16_packed(lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                                    const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate) {
    lk_bf16_product_packed(LK_ISA_AVX512, p, scratch, 1, dX, lddx, dY, lddy, packed, out, in, T, accumulate);
}
