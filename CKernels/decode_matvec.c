// Matrix-vector products on the quantized weights for incremental decoding (T of 1 to a few rows): one pass
// over W in its stored form, each row dequantized into a per-thread buffer that stays in L1/L2 and dotted with
// every row of X. Built from the dispatched lk_dequantize_row and lk_dot_f32 kernels (their SIMD paths are
// tested against their references), so this file has no ISA-specific code.
#include "lk_decode.h"
#include "lk_dot.h"
#include "lk_quant.h"
#include "ops_internal.h"

static int64_t pad16(int64_t n) { return (n + 15) / 16 * 16; }

size_t lk_decode_qmatvec_scratch_floats(const lk_pool *p, int64_t in) {
    return (size_t)lk_pool_size(p) * (size_t)pad16(in > 0 ? in : 1);
}

typedef struct qmv_args {
    float *scratch, *Y;
    const float *X;
    const uint8_t *W;
    lk_type t;
    int64_t ldy, out, in, T, row_bytes, sp;
} qmv_args;

static void qmv_task(void *ctx, int ti, int nt) {
    const qmv_args *a = (const qmv_args *)ctx;
    // Row ranges on multiples of 16 so the split does not depend on anything but nt.
    int64_t u0, u1;
    lk_ops_split((a->out + 15) / 16, ti, nt, &u0, &u1);
    const int64_t o0 = u0 * 16, o1 = u1 * 16 < a->out ? u1 * 16 : a->out;
    float *w = a->scratch + (int64_t)ti * a->sp; // [in]
    for (int64_t o = o0; o < o1; o++) {
        lk_dequantize_row(a->t, w, a->W + o * a->row_bytes, a->in);
        for (int64_t r = 0; r < a->T; r++) a->Y[r * a->ldy + o] = lk_dot_f32(a->X + r * a->in, w, (size_t)a->in);
    }
}

void lk_decode_qmatvec(lk_pool *p, float *scratch, float *Y, int64_t ldy, const float *X, int t, const void *W,
                       int64_t out, int64_t in, int64_t T) {
    const lk_type ty = (lk_type)t;
    if (T <= 0 || out <= 0 || in <= 0) return;
    const int64_t bs = lk_type_block_size(ty);
    if (bs <= 0 || in % bs != 0) return;
    qmv_args a = {scratch, Y, X, (const uint8_t *)W, ty, ldy, out, in, T, in / bs * lk_type_block_bytes(ty), pad16(in)};
    lk_pool_run(out < 64 ? NULL : p, qmv_task, &a);
}
