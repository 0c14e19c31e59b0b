// int8 frozen-weight products (see lk_matmul_int8.h). The left operand is quantized once per product; each
// thread owns a range of output columns and packs its W panels (KC summed elements × NB columns) into the
// microkernel's strip layout: forward straight from the blocks' integers, backward-data through a dequantized
// fp32 panel requantized per 32 along `out`.
#include "lk_matmul_int8.h"
#include "lk_matmul_int8_kernel.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#define KC 512   // summed elements per panel (a multiple of every block size: 256 for K-quants)
#define NB 256   // columns per panel (a multiple of 32 and of every block size)
#define GMIN 16  // smallest group (Q6_K), for sizing

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
void lk_i8_kernel_ref(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const float *const *as,
                      const uint8_t *bp, const float *bs, const float *bb, int64_t ng, int G, int wide, int mr, int nr,
                      int add) {
    (void)wide;
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
                f = fmaf(bb[g * 32 + j], as[r][g], f);
            }
            C[r * ldc + j] = add ? C[r * ldc + j] + f : f;
        }
    }
}

void lk_i8_quant_ref(int8_t *q, float *d, float *s, const float *x, int64_t n, int G) {
    lk_int8_quantize_row_ref(q, d, s, x, n, G);
}

int lk_int8_matmul_native(void) {
    return lk_isa_supported(LK_ISA_AVX512) && (lk_cpu_features() & LK_CPU_AVX512_VNNI) ? 1 : lk_isa_supported(LK_ISA_AVX2);
}

typedef struct i8_impl {
    lk_i8_kernel kernel;
    lk_i8_quant_fn quant;
    const char *name;
} i8_impl;

static i8_impl impl_for(lk_isa isa) {
    i8_impl m = {lk_i8_kernel_ref, lk_i8_quant_ref, "scalar"};
#if defined(__x86_64__)
    if (isa == LK_ISA_AVX512 && lk_isa_supported(LK_ISA_AVX512) && (lk_cpu_features() & LK_CPU_AVX512_VNNI)) {
        m = (i8_impl){lk_i8_kernel_avx512, lk_i8_quant_avx512, "avx512-vnni"};
    } else if ((isa == LK_ISA_AVX512 || isa == LK_ISA_AVX2) && lk_isa_supported(LK_ISA_AVX2)) {
        m = (i8_impl){lk_i8_kernel_avx2, lk_i8_quant_ref, "avx2"};
    }
#else
    (void)isa;
#endif
    return m;
}

const char *lk_int8_kernel_name(lk_isa isa) { return impl_for(isa).name; }

static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }
// Scratch: [A: T·K int8][ad, as: T·K/GMIN floats each] then per thread [bp: KC·NB][bs, bb: KC/GMIN·NB floats each]
// [tmp: KC·NB floats (backward's dequantized panel; forward's unpacked row)].
static inline size_t act_bytes(int64_t T, int64_t K) {
    return align64((size_t)(T * K) + 64) + 2 * align64((size_t)(T * (K / GMIN + 1)) * sizeof(float));
}
static inline size_t strip_meta_bytes(void) { return align64((size_t)(KC / GMIN) * NB * 4); }
static inline size_t tmp_bytes(void) { return align64((size_t)KC * NB * sizeof(float)); }
static inline size_t thread_bytes(void) { return align64((size_t)KC * NB) + 2 * strip_meta_bytes() + tmp_bytes(); }

size_t lk_int8_scratch_bytes(int threads, int64_t T, int64_t k_max) {
    if (T <= 0 || k_max <= 0) return 0;
    return 64 + act_bytes(T, k_max) + (size_t)(threads < 1 ? 1 : threads) * thread_bytes();
}

typedef struct i8_args {
    i8_impl m;
    int bwd;
    const float *X;       // [T, K] (ldx)
    int64_t ldx;
    int8_t *A;            // [T, K]
    float *AD, *AS;       // [T, K/G]
    float *Y;             // [T, N] (ldy)
    int64_t ldy;
    lk_type t;
    const uint8_t *W;
    int64_t out, in, T, N, K, G, row_bytes, bs, bb;
    int accumulate, parts, zero, failed;   // zero: the weights' zero point z (u = wi + z)
    int64_t strip_unit;
    uint8_t *scratch;     // aligned; NULL: per-thread buffers allocated per call
} i8_args;

static void quant_task(void *ctx, int ti, int nt) {
    i8_args *g = (i8_args *)ctx;
    const int64_t t0 = g->T * ti / nt, t1 = g->T * (ti + 1) / nt, ng = g->K / g->G;
    for (int64_t t = t0; t < t1; t++)
        g->m.quant(g->A + t * g->K, g->AD + t * ng, g->AS + t * ng, g->X + t * g->ldx, g->K, (int)g->G);
}

// Strip-layout pointers of a packed panel: strip s of the panel at bp + s·kc·32, meta [ng][32] at s·ng·32.
typedef struct panel {
    uint8_t *bp;
    float *bs, *bb;
    float *tmp;
} panel;

// Column j of the panel (group values wi[kc], sw/bw[kc/G]) into the strip layout: u = wi + z, bb = Bw - z·Sw
// (exact: z is 0 or a power of two).
static void put_column(const panel *P, int64_t j, int64_t kc, int64_t G, int z, const int8_t *wi, const float *sw,
                       const float *bw) {
    const int64_t s = j / 32, jj = j % 32, ng = kc / G;
    uint8_t *bp = P->bp + s * kc * 32;
    for (int64_t k4 = 0; k4 < kc / 4; k4++)
        for (int i = 0; i < 4; i++) bp[(k4 * 32 + jj) * 4 + i] = (uint8_t)(wi[4 * k4 + i] + z);
    for (int64_t gi = 0; gi < ng; gi++) {
        P->bs[(s * ng + gi) * 32 + jj] = sw[gi];
        P->bb[(s * ng + gi) * 32 + jj] = bw[gi] - (float)z * sw[gi];
    }
}

// Zero columns nb..(strips·32) of the last strip, so the microkernel may read them.
static void pad_columns(const panel *P, int64_t nb, int64_t kc, int64_t G) {
    static const int8_t zi[KC];
    static const float zf[KC / GMIN];
    for (int64_t j = nb; j < (nb + 31) / 32 * 32; j++) put_column(P, j, kc, G, 0, zi, zf, zf);
}

// Forward panel: rows nb0.. of W (output columns), summed elements k0..k0+kc, straight from the blocks.
static void pack_fwd(const i8_args *g, const panel *P, int64_t nb0, int64_t nb, int64_t k0, int64_t kc) {
    int8_t *wi = (int8_t *)P->tmp;
    float *sw = P->tmp + KC / 4, *bw = sw + KC / GMIN;
    for (int64_t j = 0; j < nb; j++) {
        lk_int8_unpack_row(g->t, wi, sw, bw, g->W + (nb0 + j) * g->row_bytes + k0 / g->bs * g->bb, kc);
        put_column(P, j, kc, g->G, g->zero, wi, sw, bw);
    }
    pad_columns(P, nb, kc, g->G);
}

// Backward panel: W rows k0..k0+kc (summed `out`), columns nb0..nb0+nb (`in`), dequantized then requantized per
// 32 rows: Sw = max|w| / 127, wi = round-to-nearest-even(w / Sw), u = wi + 128, bb = -128·Sw; one strip (32
// columns) at a time.
static void pack_bwd(const i8_args *g, const panel *P, int64_t nb0, int64_t nb, int64_t k0, int64_t kc) {
    float *tmp = P->tmp; // [kc][nb]
    for (int64_t k = 0; k < kc; k++)
        lk_dequantize_row(g->t, tmp + k * nb, g->W + (k0 + k) * g->row_bytes + nb0 / g->bs * g->bb, nb);
    const int64_t ng = kc / 32;
    for (int64_t s = 0; s < (nb + 31) / 32; s++) {
        uint8_t *bp = P->bp + s * kc * 32;
        const int64_t w = min64(32, nb - s * 32);
        for (int64_t gi = 0; gi < ng; gi++) {
            float amax[32] = {0}, id[32];
            for (int64_t k = 0; k < 32; k++) {
                const float *row = tmp + (gi * 32 + k) * nb + s * 32;
                for (int64_t j = 0; j < w; j++) amax[j] = fmaxf(amax[j], fabsf(row[j]));
            }
            for (int64_t j = 0; j < 32; j++) {
                const float d = amax[j] / 127.0f;
                id[j] = d != 0 ? 1.0f / d : 0.0f;
                P->bs[(s * ng + gi) * 32 + j] = d;
                P->bb[(s * ng + gi) * 32 + j] = -128.0f * d;
            }
            if (w < 32) memset(id + w, 0, (size_t)(32 - w) * sizeof(float)); // padding columns quantize to 0
            for (int64_t k4 = 0; k4 < 8; k4++) {
                // Four rows at a time, so each column's 4 bytes are stored as one word (vectorizes over j).
                const int64_t kk = gi * 32 + 4 * k4;
                const float *r0 = tmp + kk * nb + s * 32, *r1 = r0 + nb, *r2 = r1 + nb, *r3 = r2 + nb;
                uint32_t *dst = (uint32_t *)(bp + (kk >> 2) * 32 * 4);
                for (int64_t j = 0; j < 32; j++) {
                    const float a0 = j < w ? r0[j] : 0, a1 = j < w ? r1[j] : 0, a2 = j < w ? r2[j] : 0, a3 = j < w ? r3[j] : 0;
                    dst[j] = (uint32_t)(uint8_t)(lk_i8_round_even(a0 * id[j]) + 128)
                             | (uint32_t)(uint8_t)(lk_i8_round_even(a1 * id[j]) + 128) << 8
                             | (uint32_t)(uint8_t)(lk_i8_round_even(a2 * id[j]) + 128) << 16
                             | (uint32_t)(uint8_t)(lk_i8_round_even(a3 * id[j]) + 128) << 24;
                }
            }
        }
    }
}

static void panel_products(const i8_args *g, const panel *P, int64_t nb0, int64_t nb, int64_t k0, int64_t kc) {
    const int64_t nstrips = (nb + 31) / 32, ng = kc / g->G, ngK = g->K / g->G;
    const int add = k0 > 0 || g->accumulate;
    for (int64_t t = 0; t < g->T; t += LK_I8_MR) {
        const int mr = (int)min64(LK_I8_MR, g->T - t);
        const int8_t *rows[LK_I8_MR];
        const float *ad[LK_I8_MR], *as[LK_I8_MR];
        for (int r = 0; r < LK_I8_MR; r++) {
            const int64_t tr = t + (r < mr ? r : 0);
            rows[r] = g->A + tr * g->K + k0;
            ad[r] = g->AD + tr * ngK + k0 / g->G;
            as[r] = g->AS + tr * ngK + k0 / g->G;
        }
        for (int64_t s = 0; s < nstrips; s++) {
            const int nr = (int)min64(32, nb - s * 32);
            g->m.kernel(g->Y + t * g->ldy + nb0 + s * 32, g->ldy, rows, ad, as, P->bp + s * kc * 32,
                        P->bs + s * ng * 32, P->bb + s * ng * 32, ng, (int)g->G, g->zero == 128, mr, nr, add);
        }
    }
}

static void gemm_task(void *ctx, int ti, int nt) {
    (void)nt;
    i8_args *g = (i8_args *)ctx;
    if (ti >= g->parts) return;
    const int64_t unit = g->strip_unit, units = (g->N + 32 * unit - 1) / (32 * unit);
    const int64_t u0 = units * ti / g->parts, u1 = units * (ti + 1) / g->parts;
    if (u0 >= u1) return;
    const int64_t n0 = u0 * unit * 32, n1 = min64(u1 * unit * 32, g->N);
    uint8_t *mine = g->scratch ? g->scratch + act_bytes(g->T, g->K) + (size_t)ti * thread_bytes()
                               : (uint8_t *)aligned_alloc(64, thread_bytes());
    if (!mine) { g->failed = 1; return; }
    const size_t mb = strip_meta_bytes();
    panel P = {.bp = mine};
    P.bs = (float *)(mine + align64((size_t)KC * NB));
    P.bb = (float *)((uint8_t *)P.bs + mb);
    P.tmp = (float *)((uint8_t *)P.bb + mb);
    for (int64_t nb0 = n0; nb0 < n1; nb0 += NB) {
        const int64_t nb = min64(NB, n1 - nb0);
        for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
            const int64_t kc = min64(KC, g->K - k0);
            if (g->bwd) pack_bwd(g, &P, nb0, nb, k0, kc); else pack_fwd(g, &P, nb0, nb, k0, kc);
            panel_products(g, &P, nb0, nb, k0, kc);
        }
    }
    if (!g->scratch) free(mine);
}

static void qmatmul_int8(lk_isa isa, lk_pool *p, void *scratch, int bwd, float *Y, int64_t ldy, const float *X,
                         int64_t ldx, lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    if (T <= 0 || out <= 0 || in <= 0 || !lk_int8_type_supported(t) || in % lk_type_block_size(t) != 0) return;
    if (bwd && out % 32 != 0) return;
    i8_args g = {.m = impl_for(isa), .bwd = bwd, .X = X, .ldx = ldx, .Y = Y, .ldy = ldy, .t = t,
                 .W = (const uint8_t *)W, .out = out, .in = in, .T = T, .N = bwd ? in : out, .K = bwd ? out : in,
                 .accumulate = accumulate};
    g.G = bwd ? 32 : lk_int8_group(t);
    g.zero = bwd ? 128 : lk_int8_zero_point(t);
    g.bs = lk_type_block_size(t);
    g.bb = lk_type_block_bytes(t);
    g.row_bytes = in / g.bs * g.bb;
    uint8_t *act = NULL;
    if (scratch) {
        g.scratch = (uint8_t *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
        act = g.scratch;
    } else {
        act = (uint8_t *)aligned_alloc(64, act_bytes(T, g.K));
        if (!act) return;
    }
    g.A = (int8_t *)act;
    g.AD = (float *)(act + align64((size_t)(T * g.K) + 64));
    g.AS = (float *)((uint8_t *)g.AD + align64((size_t)(T * (g.K / GMIN + 1)) * sizeof(float)));
    const int nt = lk_pool_size(p);
    lk_pool_run(nt > 1 ? p : NULL, quant_task, &g);
    g.strip_unit = bwd && g.bs > 32 ? g.bs / 32 : 1;
    g.parts = (int)min64(nt, (g.N + 32 * g.strip_unit - 1) / (32 * g.strip_unit));
    lk_pool_run(g.parts > 1 ? p : NULL, gemm_task, &g);
    if (!scratch) free(act);
}

void lk_qmatmul_fwd_int8_isa(lk_isa isa, lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X,
                             int64_t ldx, lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    qmatmul_int8(isa, p, scratch, 0, Y, ldy, X, ldx, t, W, out, in, T, accumulate);
}

void lk_qmatmul_bwd_data_int8_isa(lk_isa isa, lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY,
                                  int64_t lddy, lk_type t, const void *W, int64_t out, int64_t in, int64_t T,
                                  int accumulate) {
    qmatmul_int8(isa, p, scratch, 1, dX, lddx, dY, lddy, t, W, out, in, T, accumulate);
}

void lk_qmatmul_fwd_int8(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                         const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    qmatmul_int8(lk_active_isa(), p, scratch, 0, Y, ldy, X, ldx, t, W, out, in, T, accumulate);
}

void lk_qmatmul_bwd_data_int8(lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                              lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    qmatmul_int8(lk_active_isa(), p, scratch, 1, dX, lddx, dY, lddy, t, W, out, in, T, accumulate);
}
