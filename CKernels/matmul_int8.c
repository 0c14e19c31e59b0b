// int8 frozen-weight products (see lk_matmul_int8.h). The left operand is quantized once per product; each
// thread owns a range of output columns and packs its W panels (KC summed elements × NB columns) into the
// microkernel's strip layout: the blocks dequantized, then requantized per LK_INT8_GROUP along the summed dimension
// (forward: along each W row; backward-data: down each W column).
#include "lk_matmul_int8.h"
#include "lk_matmul_int8_kernel.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

// Panel shapes, per direction: KC summed elements (a multiple of the group and of every block size) × NB columns
// (a multiple of 32; backward also of every block size, since its columns start blocks). Long panels mean each
// output tile is read back and added to K/KC times instead of 8× that: on the 8B shapes (T = 2048, 2 threads)
// forward 2048 × 64 (128 KB of int8) and backward 2048 × 256 run 8-15% faster than 512 × 256. The forward's width
// follows a short summed dimension up to 256 columns (SmolLM2's 576: 224), so the left operand is not re-read for
// narrow panels it could have shared.
#define LK_I8_KC_F 2048            // forward: summed elements per panel
#define LK_I8_PANEL_F (128 * 1024) // forward: int8 bytes per panel (its width: this / KC, at most NB_F_MAX)
#define NB_F_MAX 256
#define LK_I8_KC_B 2048            // backward-data: summed elements × columns per panel
#define LK_I8_NB_B 256
#define GL LK_INT8_GROUP   // 256
#define KC_MAX (LK_I8_KC_F > LK_I8_KC_B ? LK_I8_KC_F : LK_I8_KC_B)
#define PANEL_MAX (LK_I8_PANEL_F > LK_I8_KC_B * LK_I8_NB_B ? LK_I8_PANEL_F : LK_I8_KC_B * LK_I8_NB_B)
// Groups per panel, at most (the last group of a short panel may be 32 long), for sizing.
#define PG (KC_MAX / 32)
#define NB_MAX (NB_F_MAX > LK_I8_NB_B ? NB_F_MAX : LK_I8_NB_B)
// The dequantized rows a panel is packed from: forward one W row (KC floats + KC int8), backward one group of GL
// W rows × NB columns.
#define TMP_F (LK_I8_KC_F * 5)
#define TMP_B (GL * LK_I8_NB_B * 4)

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
int lk_int8_matmul_native(void) {
    const uint32_t f = lk_cpu_features();
    return (f & LK_CPU_AVX512_VNNI) || (f & LK_CPU_AVX2) || (f & LK_CPU_NEON_DOTPROD) ? 1 : 0;
}

typedef struct i8_impl {
    lk_i8_kernel kernel;
    lk_i8_quant_fn quant;
    lk_i8_pack_fn pack;
    lk_i8_absmax_fn absmax;
    int flip;             // the kernel's activations: s8 (0) or u8 = s8 + 128 (0x80)
    int mr;               // rows per kernel call (≤ LK_I8_MR)
    const char *name;
} i8_impl;

static i8_impl impl_for(lk_isa isa) {
    i8_impl m = {lk_i8_kernel_ref, lk_i8_quant_ref, lk_i8_pack_ref, lk_i8_absmax_ref, 0, 4, "scalar"};
#if defined(__x86_64__)
    if (isa == LK_ISA_AVX512 && lk_isa_supported(LK_ISA_AVX512) && (lk_cpu_features() & LK_CPU_AVX512_VNNI)) {
        m = (i8_impl){lk_i8_kernel_avx512, lk_i8_quant_avx512, lk_i8_pack_avx512, lk_i8_absmax_avx512, 0x80, 8, "avx512-vnni"};
    } else if ((isa == LK_ISA_AVX512 || isa == LK_ISA_AVX2) && lk_isa_supported(LK_ISA_AVX2)) {
        m = (i8_impl){lk_i8_kernel_avx2, lk_i8_quant_ref, lk_i8_pack_ref, lk_i8_absmax_ref, 0, 4, "avx2"};
    }
#elif defined(__aarch64__)
    if (isa == LK_ISA_NEON && lk_isa_supported(LK_ISA_NEON) && (lk_cpu_features() & LK_CPU_NEON_DOTPROD))
        m = (i8_impl){lk_i8_kernel_neon, lk_i8_quant_neon, lk_i8_pack_neon, lk_i8_absmax_ref, 0, 4, "neon-dotprod"};
#else
    (void)isa;
#endif
    return m;
}

const char *lk_int8_kernel_name(lk_isa isa) { return impl_for(isa).name; }

static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }
static inline int64_t groups(int64_t K) { return (K + GL - 1) / GL; }
// Scratch: [A: T·K int8][AD: T·⌈K/GL⌉ floats][S, IS: K floats each] then per thread [bp: the larger panel]
// [bs, bc: PG·NB_MAX floats / int32 each][tmp: the larger of TMP_F, TMP_B bytes].
static inline size_t act_bytes(int64_t T, int64_t K) {
    return align64((size_t)(T * K) + 64) + align64((size_t)(T * groups(K)) * sizeof(float)) + 2 * align64((size_t)K * sizeof(float));
}
static inline size_t strip_meta_bytes(void) { return align64((size_t)PG * NB_MAX * 4); }
static inline size_t tmp_bytes(void) { return align64((size_t)(TMP_F > TMP_B ? TMP_F : TMP_B)); }
static inline size_t thread_bytes(void) { return align64((size_t)PANEL_MAX) + 2 * strip_meta_bytes() + tmp_bytes(); }

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
    float *AD;            // [T, ⌈K/GL⌉]
    float *S, *IS;        // [K]: smoothing multipliers of the summed channels and their inverses
    float *Y;             // [T, N] (ldy)
    int64_t ldy;
    lk_type t;
    const uint8_t *W;
    int64_t out, in, T, N, K, row_bytes, bs, bb;
    int accumulate, parts, failed;
    int64_t strip_unit;
    uint8_t *scratch;     // aligned; NULL: per-thread buffers allocated per call
} i8_args;

// Each thread a range of channels: S = √(max over the T rows), IS = 1/S (lk_int8_smoothing_ref).
static void smoothing_task(void *ctx, int ti, int nt) {
    i8_args *g = (i8_args *)ctx;
    const int64_t c0 = g->K * ti / nt / 16 * 16, c1 = ti == nt - 1 ? g->K : g->K * (ti + 1) / nt / 16 * 16;
    if (c0 >= c1) return;
    g->m.absmax(g->S + c0, g->X + c0, g->ldx, g->T, c1 - c0);
    for (int64_t c = c0; c < c1; c++) {
        g->S[c] = lk_i8_smoothing(g->S[c]);
        g->IS[c] = 1.0f / g->S[c];
    }
}

static void quant_task(void *ctx, int ti, int nt) {
    i8_args *g = (i8_args *)ctx;
    const int64_t t0 = g->T * ti / nt, t1 = g->T * (ti + 1) / nt, ng = groups(g->K);
    for (int64_t t = t0; t < t1; t++)
        g->m.quant(g->A + t * g->K, g->AD + t * ng, NULL, g->X + t * g->ldx, g->IS, g->K, GL, g->m.flip);
}

// Strip-layout pointers of a packed panel: strip s of the panel at bp + s·kc·32, meta [⌈kc/GL⌉][32] at s·⌈kc/GL⌉·32.
typedef struct panel {
    int8_t *bp;
    float *bs;
    int32_t *bc;
    float *tmp;
} panel;

// Forward panel: rows nb0.. of W (output columns), summed elements k0..k0+kc: each row dequantized, quantized per
// group along k (the activations' quantizer), and its words scattered into the strip layout.
static void pack_fwd(const i8_args *g, const panel *P, int64_t nb0, int64_t nb, int64_t k0, int64_t kc) {
    const int64_t ng = groups(kc);
    float *row = P->tmp;
    int8_t *wi = (int8_t *)(P->tmp + LK_I8_KC_F);
    float sw[PG];
    int32_t sum[PG];
    for (int64_t j = 0; j < (nb + 31) / 32 * 32; j++) {
        const int64_t s = j / 32, jj = j % 32;
        if (j < nb) {
            lk_dequantize_row(g->t, row, g->W + (nb0 + j) * g->row_bytes + k0 / g->bs * g->bb, kc);
            g->m.quant(wi, sw, sum, row, g->S + k0, kc, GL, 0);
        } else {
            memset(wi, 0, (size_t)kc);
            for (int64_t gi = 0; gi < ng; gi++) { sw[gi] = 0; sum[gi] = 0; }
        }
        uint32_t *dst = (uint32_t *)(P->bp + s * kc * 32);
        for (int64_t k4 = 0; k4 < kc / 4; k4++) memcpy(dst + k4 * 32 + jj, wi + 4 * k4, 4);
        for (int64_t gi = 0; gi < ng; gi++) {
            P->bs[(s * ng + gi) * 32 + jj] = sw[gi];
            P->bc[(s * ng + gi) * 32 + jj] = sum[gi];
        }
    }
}

// Backward panel: W rows k0..k0+kc (summed `out`), columns nb0..nb0+nb (`in`), one group of GL rows at a time:
// dequantized into [GL][32·⌈nb/32⌉] floats (padding columns zero: they quantize to 0), then each strip's columns
// quantized per group.
static void pack_bwd(const i8_args *g, const panel *P, int64_t nb0, int64_t nb, int64_t k0, int64_t kc) {
    const int64_t ld = (nb + 31) / 32 * 32, ng = groups(kc);
    float *tmp = P->tmp;
    for (int64_t gi = 0; gi < ng; gi++) {
        const int64_t ka = gi * GL, len = min64(GL, kc - ka);
        for (int64_t k = 0; k < len; k++) {
            float *row = tmp + k * ld;
            lk_dequantize_row(g->t, row, g->W + (k0 + ka + k) * g->row_bytes + nb0 / g->bs * g->bb, nb);
            const float s = g->S[k0 + ka + k];
            for (int64_t j = 0; j < nb; j++) row[j] *= s;
            if (ld > nb) memset(row + nb, 0, (size_t)(ld - nb) * sizeof(float));
        }
        for (int64_t s = 0; s < ld / 32; s++)
            g->m.pack(P->bp + s * kc * 32 + ka * 32, P->bs + (s * ng + gi) * 32, P->bc + (s * ng + gi) * 32,
                      tmp + s * 32, ld, len);
    }
}

// The panel's products: the whole groups of GL in one kernel call, a shorter last group in a second.
static void panel_products(const i8_args *g, const panel *P, int64_t nb0, int64_t nb, int64_t k0, int64_t kc) {
    const int64_t nstrips = (nb + 31) / 32, ng = groups(kc), full = kc / GL, tail = kc % GL, ngK = groups(g->K);
    const int add = k0 > 0 || g->accumulate;
    const int MR = g->m.mr;
    for (int64_t t = 0; t < g->T; t += MR) {
        const int mr = (int)min64(MR, g->T - t);
        const int8_t *rows[LK_I8_MR], *rows_t[LK_I8_MR];
        const float *ad[LK_I8_MR], *ad_t[LK_I8_MR];
        for (int r = 0; r < MR; r++) {
            const int64_t tr = t + (r < mr ? r : 0);
            rows[r] = g->A + tr * g->K + k0;
            ad[r] = g->AD + tr * ngK + k0 / GL;
            rows_t[r] = rows[r] + full * GL;
            ad_t[r] = ad[r] + full;
        }
        for (int64_t s = 0; s < nstrips; s++) {
            const int nr = (int)min64(32, nb - s * 32);
            float *y = g->Y + t * g->ldy + nb0 + s * 32;
            const int8_t *bp = P->bp + s * kc * 32;
            const float *bs = P->bs + s * ng * 32;
            const int32_t *bc = P->bc + s * ng * 32;
            if (full) g->m.kernel(y, g->ldy, rows, ad, bp, bs, bc, full, GL, mr, nr, add);
            if (tail)
                g->m.kernel(y, g->ldy, rows_t, ad_t, bp + full * GL * 32, bs + full * 32, bc + full * 32, 1, (int)tail,
                            mr, nr, add || full);
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
    panel P = {.bp = (int8_t *)mine};
    P.bs = (float *)(mine + align64((size_t)PANEL_MAX));
    P.bc = (int32_t *)((uint8_t *)P.bs + mb);
    P.tmp = (float *)((uint8_t *)P.bc + mb);
    const int64_t KC = g->bwd ? LK_I8_KC_B : LK_I8_KC_F;
    const int64_t nbf = LK_I8_PANEL_F / min64(KC, g->K) / 32 * 32;
    const int64_t NB = g->bwd ? LK_I8_NB_B : nbf < 32 ? 32 : min64(NB_F_MAX, nbf);
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
    g.S = (float *)((uint8_t *)g.AD + align64((size_t)(T * groups(g.K)) * sizeof(float)));
    g.IS = (float *)((uint8_t *)g.S + align64((size_t)g.K * sizeof(float)));
    const int nt = lk_pool_size(p);
    lk_pool_run(nt > 1 ? p : NULL, smoothing_task, &g);
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
