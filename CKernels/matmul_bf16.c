// bf16 frozen-weight products (see lk_matmul_bf16.h). The left operand (X, or dY) is converted once per
// product to bf16 pairs along the summed dimension; each thread owns a range of output columns and packs
// its W panels as [strip of 32 columns][k pair][32][2] bf16, then runs an 8 x 32 microkernel over them.
#include "lk_matmul_bf16.h"
#include "lk_matmul_bf16_kernel.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define KC 512   // summed elements per packed panel (even, a multiple of every block size: 256 for K-quants)
#define NB 256   // output columns per packed panel (a multiple of 32 and of every block size)

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

uint16_t lk_f32_to_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); // quiet NaN
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint32_t pair(float lo, float hi) {
    return (uint32_t)lk_f32_to_bf16(lo) | ((uint32_t)lk_f32_to_bf16(hi) << 16);
}

// Scalar microkernel, the same arithmetic as vdpbf16ps: C[r, j] (+)= Σ_p a_lo·b_lo + a_hi·b_hi in fp32.
void lk_bf16_kernel_ref(float *C, int64_t ldc, const uint32_t *const *a, const uint32_t *bp, int64_t kp, int mr,
                        int nr, int add) {
    for (int r = 0; r < mr; r++) {
        for (int j = 0; j < nr; j++) {
            float s = 0;
            for (int64_t p = 0; p < kp; p++) {
                const uint32_t x = a[r][p], w = bp[p * 32 + j];
                s += bf16_to_f32((uint16_t)x) * bf16_to_f32((uint16_t)w) + bf16_to_f32((uint16_t)(x >> 16)) * bf16_to_f32((uint16_t)(w >> 16));
            }
            C[r * ldc + j] = add ? C[r * ldc + j] + s : s;
        }
    }
}

// Scalar packing steps (the reference layouts of lk_matmul_bf16_kernel.h).
void lk_bf16_pairs_ref(uint32_t *a, const float *x, int64_t n) {
    for (int64_t p = 0; p < (n + 1) / 2; p++) a[p] = pair(x[2 * p], 2 * p + 1 < n ? x[2 * p + 1] : 0.0f);
}

void lk_bf16_pack_rows_ref(uint32_t *bp, const float *w, int64_t ldw, int64_t nb, int64_t kc) {
    const int64_t kpc = (kc + 1) / 2;
    for (int64_t s = 0; s < (nb + 31) / 32; s++)
        for (int64_t p = 0; p < kpc; p++)
            for (int j = 0; j < 32; j++) {
                const int64_t c = s * 32 + j;
                const float *r = w + c * ldw;
                bp[(s * kpc + p) * 32 + j] = c < nb ? pair(r[2 * p], 2 * p + 1 < kc ? r[2 * p + 1] : 0.0f) : 0;
            }
}

void lk_bf16_pack_cols_ref(uint32_t *bp, const float *w, int64_t ldw, int64_t kc, int64_t nb) {
    const int64_t kpc = (kc + 1) / 2;
    for (int64_t s = 0; s < (nb + 31) / 32; s++)
        for (int64_t p = 0; p < kpc; p++) {
            const float *lo = w + 2 * p * ldw + s * 32, *hi = lo + ldw;
            const int have_hi = 2 * p + 1 < kc;
            for (int j = 0; j < 32; j++) {
                const int64_t c = s * 32 + j;
                bp[(s * kpc + p) * 32 + j] = c < nb ? pair(lo[j], have_hi ? hi[j] : 0.0f) : 0;
            }
        }
}

int lk_bf16_matmul_native(void) {
#if defined(__x86_64__)
    return (lk_cpu_features() & LK_CPU_AVX512_BF16) != 0 && lk_isa_supported(LK_ISA_AVX512);
#else
    return 0;
#endif
}

lk_bf16_impl lk_bf16_impl_for(lk_isa isa) {
    lk_bf16_impl m = {lk_bf16_kernel_ref, lk_bf16_pairs_ref, lk_bf16_pack_rows_ref, lk_bf16_pack_cols_ref};
#if defined(__x86_64__)
    if (isa == LK_ISA_AVX512 && lk_bf16_matmul_native()) {
        m = (lk_bf16_impl){lk_bf16_kernel_avx512, lk_bf16_pairs_avx512, lk_bf16_pack_rows_avx512, lk_bf16_pack_cols_avx512};
    }
#else
    (void)isa;
#endif
    return m;
}

typedef struct bf_args {
    lk_bf16_kernel kernel;
    lk_bf16_pairs_fn pairs;
    lk_bf16_pack_fn pack_rows, pack_cols;
    const uint32_t *packed;     // W already packed (lk_bf16_pack_weights layout), or NULL
    int bwd;                    // 0: Y = X·Wᵀ (columns = out rows of W); 1: dX = dY·W (columns = in)
    const float *X;             // [T, K] (ldx), K = in (fwd) or out (bwd)
    int64_t ldx;
    uint32_t *A;                // [T, kp] bf16 pairs
    int64_t kp;                 // K rounded up to even, / 2
    float *Y;                   // [T, N] (ldy)
    int64_t ldy;
    lk_type t;
    const uint8_t *W;
    int64_t out, in, T, N, K, row_bytes, bs, bb;
    int accumulate, parts;
    int64_t strip_unit;         // strips per unit of work: bwd with blocks wider than 32 columns, bs / 32; else 1
    int failed;
    uint8_t *scratch;           // lk_bf16_scratch_bytes bytes from the caller, or NULL: allocated per call
} bf_args;

static inline size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }
// Scratch layout: [A: T·kp pairs + 64 bytes of slack] then per pool thread [tmp: KC·NB floats][bp: KC/2·NB pairs].
static inline size_t a_bytes(int64_t T, int64_t kp) { return align64((size_t)(T * kp) * sizeof(uint32_t) + 64); }
static inline size_t tmp_bytes(void) { return align64((size_t)KC * NB * sizeof(float)); }
static inline size_t thread_bytes(void) { return tmp_bytes() + align64((size_t)(KC / 2) * NB * sizeof(uint32_t)); }

size_t lk_bf16_scratch_bytes(int threads, int64_t T, int64_t k_max) {
    if (T <= 0 || k_max <= 0) return 0;
    return 64 + a_bytes(T, (k_max + 1) / 2) + (size_t)(threads < 1 ? 1 : threads) * thread_bytes();
}

// Converts rows of X to bf16 pairs (zero pad at an odd end).
static void convert_task(void *ctx, int ti, int nt) {
    bf_args *g = (bf_args *)ctx;
    const int64_t t0 = g->T * ti / nt, t1 = g->T * (ti + 1) / nt;
    for (int64_t t = t0; t < t1; t++) {
        g->pairs(g->A + t * g->kp, g->X + t * g->ldx, g->K);
    }
}

// Y[:, nb0..nb0+nb] (+)= A[:, k0..k0+2·kpc] · panel, 8 rows × 32 columns per microkernel call; the panel's
// strip s starts at bp + s·strip_stride (packed W: the whole-K strip; per-call packing: this KC panel).
static void panel_products(const bf_args *g, int64_t nb0, int64_t nb, int64_t k0, int64_t kpc, const uint32_t *bp,
                           int64_t strip_stride) {
    const int64_t nstrips = (nb + 31) / 32;
    const int add = k0 > 0 || g->accumulate;
    for (int64_t t = 0; t < g->T; t += 8) {
        const int mr = (int)min64(8, g->T - t);
        const uint32_t *rows[8];
        for (int r = 0; r < 8; r++) rows[r] = g->A + (t + (r < mr ? r : 0)) * g->kp + k0 / 2;
        for (int64_t s = 0; s < nstrips; s++) {
            const int nr = (int)min64(32, nb - s * 32);
            g->kernel(g->Y + t * g->ldy + nb0 + s * 32, g->ldy, rows, bp + s * strip_stride, kpc, mr, nr, add);
        }
    }
}

static void gemm_task(void *ctx, int ti, int nt) {
    (void)nt;
    bf_args *g = (bf_args *)ctx;
    if (ti >= g->parts) return;
    // Threads split the columns in units of whole blocks of strips: dX columns (bwd) are W's `in`, so a thread's
    // first column must start a block (K-quants: 256 = 8 strips).
    const int64_t unit = g->strip_unit, units = (g->N + 32 * unit - 1) / (32 * unit);
    const int64_t u0 = units * ti / g->parts, u1 = units * (ti + 1) / g->parts;
    if (u0 >= u1) return;
    const int64_t n0 = u0 * unit * 32, n1 = min64(u1 * unit * 32, g->N);
    if (g->packed) {
        // Panels straight from the packed W: strip s, pairs k0/2.. at packed + (s·kp + k0/2)·32.
        for (int64_t nb0 = n0; nb0 < n1; nb0 += NB) {
            const int64_t nb = min64(NB, n1 - nb0);
            for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
                const int64_t kpc = (min64(KC, g->K - k0) + 1) / 2;
                panel_products(g, nb0, nb, k0, kpc, g->packed + ((nb0 / 32) * g->kp + k0 / 2) * 32, g->kp * 32);
            }
        }
        return;
    }
    float *tmp;
    uint32_t *bp;
    if (g->scratch) {
        uint8_t *mine = g->scratch + a_bytes(g->T, g->kp) + (size_t)ti * thread_bytes();
        tmp = (float *)mine;
        bp = (uint32_t *)(mine + tmp_bytes());
    } else {
        tmp = (float *)aligned_alloc(64, tmp_bytes());
        bp = (uint32_t *)aligned_alloc(64, thread_bytes() - tmp_bytes());
        if (!tmp || !bp) { free(tmp); free(bp); g->failed = 1; return; }
    }
    for (int64_t nb0 = n0; nb0 < n1; nb0 += NB) {
        const int64_t nb = min64(NB, n1 - nb0);
        for (int64_t k0 = 0; k0 < g->K; k0 += KC) {
            const int64_t kc = min64(KC, g->K - k0), kpc = (kc + 1) / 2;
            // Pack W into bp[strip][pair][32].
            if (!g->bwd) {
                // tmp[j][k]: rows nb0+j of W, columns k0..k0+kc (block aligned: k0 multiple of KC).
                for (int64_t j = 0; j < nb; j++)
                    lk_dequantize_row(g->t, tmp + j * kc, g->W + (nb0 + j) * g->row_bytes + k0 / g->bs * g->bb, kc);
                g->pack_rows(bp, tmp, kc, nb, kc);
            } else {
                // tmp[k][j]: rows k0+k of W (the summed out dimension), columns nb0..nb0+nb.
                for (int64_t k = 0; k < kc; k++)
                    lk_dequantize_row(g->t, tmp + k * nb, g->W + (k0 + k) * g->row_bytes + nb0 / g->bs * g->bb, nb);
                g->pack_cols(bp, tmp, nb, kc, nb);
            }
            panel_products(g, nb0, nb, k0, kpc, bp, kpc * 32);
        }
    }
    if (!g->scratch) {
        free(tmp);
        free(bp);
    }
}

static void run(lk_isa isa, lk_pool *p, bf_args *g) {
    const lk_bf16_impl m = lk_bf16_impl_for(isa);
    g->kernel = m.kernel;
    g->pairs = m.pairs;
    g->pack_rows = m.pack_rows;
    g->pack_cols = m.pack_cols;
    g->bs = lk_type_block_size(g->t);
    g->bb = lk_type_block_bytes(g->t);
    g->row_bytes = g->in / g->bs * g->bb;
    g->kp = (g->K + 1) / 2;
    if (g->scratch) {
        g->scratch = (uint8_t *)(((uintptr_t)g->scratch + 63) & ~(uintptr_t)63);
        g->A = (uint32_t *)g->scratch;
    } else {
        g->A = (uint32_t *)malloc(a_bytes(g->T, g->kp));
        if (!g->A) return;
    }
    const int nt = lk_pool_size(p);
    lk_pool_run(nt > 1 ? p : NULL, convert_task, g);
    g->strip_unit = g->bwd && g->bs > 32 ? g->bs / 32 : 1;
    g->parts = (int)min64(nt, (g->N + 32 * g->strip_unit - 1) / (32 * g->strip_unit));
    lk_pool_run(g->parts > 1 ? p : NULL, gemm_task, g);
    if (!g->scratch) free(g->A);
}

// Every type of the traits table; panels start on block boundaries (KC and NB are multiples of 256).
static int valid(lk_type t, int64_t in) {
    return lk_type_traits_get(t) != NULL && in > 0 && in % lk_type_block_size(t) == 0;
}

static void qmatmul_bf16(lk_isa isa, lk_pool *p, void *scratch, int bwd, float *Y, int64_t ldy, const float *X,
                         int64_t ldx, lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    if (T <= 0 || out <= 0 || !valid(t, in)) return;
    bf_args g = {.bwd = bwd, .X = X, .ldx = ldx, .Y = Y, .ldy = ldy, .t = t, .W = (const uint8_t *)W, .out = out,
                 .in = in, .T = T, .N = bwd ? in : out, .K = bwd ? out : in, .accumulate = accumulate,
                 .scratch = (uint8_t *)scratch};
    run(isa, p, &g);
}

void lk_qmatmul_fwd_bf16_isa(lk_isa isa, lk_pool *p, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                             const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    qmatmul_bf16(isa, p, NULL, 0, Y, ldy, X, ldx, t, W, out, in, T, accumulate);
}

void lk_bf16_product_packed(lk_isa isa, lk_pool *p, void *scratch, int bwd, float *Y, int64_t ldy, const float *X,
                            int64_t ldx, const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate) {
    if (T <= 0 || out <= 0 || in <= 0 || !packed) return;
    bf_args g = {.bwd = bwd, .packed = packed, .X = X, .ldx = ldx, .Y = Y, .ldy = ldy, .t = LK_F32, .out = out,
                 .in = in, .T = T, .N = bwd ? in : out, .K = bwd ? out : in, .accumulate = accumulate,
                 .scratch = (uint8_t *)scratch};
    run(isa, p, &g);
}

void lk_qmatmul_bwd_data_bf16_isa(lk_isa isa, lk_pool *p, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                                  lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    qmatmul_bf16(isa, p, NULL, 1, dX, lddx, dY, lddy, t, W, out, in, T, accumulate);
}

void lk_qmatmul_fwd_bf16(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                         const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    qmatmul_bf16(LK_ISA_AVX512, p, scratch, 0, Y, ldy, X, ldx, t, W, out, in, T, accumulate);
}

void lk_qmatmul_bwd_data_bf16(lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                              lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    qmatmul_bf16(LK_ISA_AVX512, p, scratch, 1, dX, lddx, dY, lddy, t, W, out, in, T, accumulate);
}

void lk_qmatmul_fwd_bf16_ref(float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t, const void *W,
                             int64_t out, int64_t in, int64_t T) {
    if (T <= 0 || out <= 0 || !valid(t, in)) return;
    const int64_t row_bytes = in / lk_type_block_size(t) * lk_type_block_bytes(t);
    float *w = (float *)malloc((size_t)in * sizeof(float));
    if (!w) return;
    for (int64_t o = 0; o < out; o++) {
        lk_dequantize_row(t, w, (const uint8_t *)W + o * row_bytes, in);
        for (int64_t k = 0; k < in; k++) w[k] = bf16_to_f32(lk_f32_to_bf16(w[k]));
        for (int64_t r = 0; r < T; r++) {
            double s = 0;
            for (int64_t k = 0; k < in; k++) s += (double)bf16_to_f32(lk_f32_to_bf16(X[r * ldx + k])) * w[k];
            Y[r * ldy + o] = (float)s;
        }
    }
    free(w);
}

// The packing steps with a chosen implementation (LK_ISA_AVX512 needs AVX512-BF16; anything else: scalar).
void lk_bf16_pairs_isa(lk_isa isa, uint32_t *a, const float *x, int64_t n) {
    if (n <= 0) return;
#if defined(__x86_64__)
    if (isa == LK_ISA_AVX512 && lk_bf16_matmul_native()) { lk_bf16_pairs_avx512(a, x, n); return; }
#endif
    (void)isa;
    lk_bf16_pairs_ref(a, x, n);
}

void lk_bf16_pack_rows_isa(lk_isa isa, uint32_t *bp, const float *w, int64_t ldw, int64_t nb, int64_t kc) {
    if (nb <= 0 || kc <= 0) return;
#if defined(__x86_64__)
    if (isa == LK_ISA_AVX512 && lk_bf16_matmul_native()) { lk_bf16_pack_rows_avx512(bp, w, ldw, nb, kc); return; }
#endif
    (void)isa;
    lk_bf16_pack_rows_ref(bp, w, ldw, nb, kc);
}

void lk_bf16_pack_cols_isa(lk_isa isa, uint32_t *bp, const float *w, int64_t ldw, int64_t kc, int64_t nb) {
    if (nb <= 0 || kc <= 0) return;
#if defined(__x86_64__)
    if (isa == LK_ISA_AVX512 && lk_bf16_matmul_native()) { lk_bf16_pack_cols_avx512(bp, w, ldw, kc, nb); return; }
#endif
    (void)isa;
    lk_bf16_pack_cols_ref(bp, w, ldw, kc, nb);
}
