// Frozen-weight products (see lk_matmul.h): per-thread dequantized panels of W fed to single-threaded
// OpenBLAS sgemm, plus the pool-threaded lk_sgemm and the fp64 scalar references.
#include "lk_matmul.h"
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/// Floats of one thread's dequantized panel (1 MB: about one L2). sgemm re-packs the other operand on
/// every call, so panels must be wide: at 512 KB the [576 <- 1536] forward ran at 86% of sgemm, at 1 MB 92%.
#ifndef LK_PANEL_FLOATS
#define LK_PANEL_FLOATS (256 * 1024)
#endif
/// Widest run of `in` one panel covers (a multiple of every block size, 256 for the K-quants). Wider rows are cut into chunks so a
/// panel keeps >= 256 rows: 4096 <- 14336 forward went from 49% to ~95% of sgemm.
#define LK_PANEL_COLS 1024

static pthread_once_t blas_once = PTHREAD_ONCE_INIT;
static void blas_single_thread(void) { openblas_set_num_threads(1); }

static inline void split(int64_t n, int i, int k, int64_t *a, int64_t *b) {
    *a = n * i / k;
    *b = n * (i + 1) / k;
}
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

// Every type of the traits table (lk_quant.h) is multiplied through per-thread dequantized panels.
static int is_compute_type(lk_type t) { return lk_type_traits_get(t) != NULL; }

/// Floats of each thread's slice of the scratch: the largest panel either product uses, at most
/// min(out, LK_PANEL_FLOATS / kc) rows x kc columns with kc <= min(in, LK_PANEL_COLS); a multiple of 16 so
/// slices stay 64-byte aligned.
static int64_t thread_floats(int64_t out, int64_t in) {
    const int64_t kc = min64(max64(in, 1), LK_PANEL_COLS);
    return (min64(LK_PANEL_FLOATS, max64(out, 1) * kc) + 15) / 16 * 16;
}

size_t lk_qmatmul_scratch_bytes(const lk_pool *p, lk_type t, int64_t out, int64_t in) {
    if (t == LK_F32 || !is_compute_type(t) || in <= 0) return 0;
    return (size_t)lk_pool_size(p) * (size_t)thread_floats(out, in) * sizeof(float) + 64;
}

static float *align64(void *p) { return (float *)(((uintptr_t)p + 63) & ~(uintptr_t)63); }

static void zero_rows(float *Y, int64_t ld, int64_t rows, int64_t cols) {
    for (int64_t r = 0; r < rows; r++) memset(Y + r * ld, 0, (size_t)cols * sizeof(float));
}

typedef struct qmm_args {
    float *scratch;             // [n_threads, thread_floats]
    float *Y;                   // fwd: Y [T, out]; bwd: dX [T, in]
    const float *X;             // fwd: X [T, in];  bwd: dY [T, out]
    int64_t ldy, ldx;
    lk_type t;
    const uint8_t *W;           // [out, in] quantized
    int64_t out, in, T, row_bytes, bs, bb, tf;
    int accumulate;
    int nc, nr;                 // work grid: nc column chunks x nr T chunks
    lk_isa isa;
} qmm_args;

// Forward: thread owns out rows [o0, o1) for T rows [t0, t1). Panels of pr rows x kc columns of W, the
// column chunks of a row panel summed into Y one after the other.
static void fwd_block(const qmm_args *a, float *buf, int64_t o0, int64_t o1, int64_t t0, int64_t t1);

static void fwd_task(void *ctx, int ti, int nt) {
    (void)nt;
    const qmm_args *a = (const qmm_args *)ctx;
    if (ti >= a->nc * a->nr) return;
    int64_t o0, o1, t0, t1;
    split(a->out, ti % a->nc, a->nc, &o0, &o1);
    split(a->T, ti / a->nc, a->nr, &t0, &t1);
    if (o0 >= o1 || t0 >= t1) return;
    fwd_block(a, a->scratch ? a->scratch + (int64_t)ti * a->tf : NULL, o0, o1, t0, t1);
}

// Y[t0:t1, o0:o1] (+)= X[t0:t1, :] · W[o0:o1, :]ᵀ with `buf` this thread's panel scratch.
static void fwd_block(const qmm_args *a, float *buf, int64_t o0, int64_t o1, int64_t t0, int64_t t1) {
    const int64_t kc = min64(a->in, LK_PANEL_COLS), pr = max64(1, LK_PANEL_FLOATS / kc);
    for (int64_t r = o0; r < o1; r += pr) {
        const int64_t n = min64(pr, o1 - r);
        for (int64_t k = 0; k < a->in; k += kc) {
            const int64_t nk = min64(kc, a->in - k);
            const float *Wp;
            int64_t ldw;
            if (a->t == LK_F32) {
                Wp = (const float *)(a->W + r * a->row_bytes) + k;
                ldw = a->in;
            } else {
                const int64_t col_byte = k / a->bs * a->bb;
                for (int64_t j = 0; j < n; j++)
                    lk_dequantize_row_isa(a->isa, a->t, buf + j * nk, a->W + (r + j) * a->row_bytes + col_byte, nk);
                Wp = buf;
                ldw = nk;
            }
            const float beta = (k == 0 && !a->accumulate) ? 0.0f : 1.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(t1 - t0), (int)n, (int)nk, 1.0f,
                        a->X + t0 * a->ldx + k, (int)a->ldx, Wp, (int)ldw, beta, a->Y + t0 * a->ldy + r, (int)a->ldy);
        }
    }
}

// Backward-data: thread owns dX columns [c0, c1) (block aligned) for T rows [t0, t1); it walks them in chunks
// of at most LK_PANEL_COLS columns, summing each chunk over panels of pk rows of W.
static void bwd_block(const qmm_args *a, float *buf, float *Y, int64_t ldy, int accumulate, int64_t k0, int64_t k1,
                      int64_t c0, int64_t c1, int64_t t0, int64_t t1);

static void bwd_task(void *ctx, int ti, int nt) {
    (void)nt;
    const qmm_args *a = (const qmm_args *)ctx;
    if (ti >= a->nc * a->nr) return;
    const int64_t unit = a->bs >= 16 ? a->bs : 16, units = (a->in + unit - 1) / unit;
    int64_t u0, u1, t0, t1;
    split(units, ti % a->nc, a->nc, &u0, &u1);
    split(a->T, ti / a->nc, a->nr, &t0, &t1);
    const int64_t c0 = u0 * unit, c1 = min64(u1 * unit, a->in);
    if (c0 >= c1 || t0 >= t1) return;
    bwd_block(a, a->scratch ? a->scratch + (int64_t)ti * a->tf : NULL, a->Y, a->ldy, a->accumulate, 0, a->out, c0, c1,
              t0, t1);
}

// Y[t0:t1, c0:c1] (+)= X[t0:t1, k0:k1] · W[k0:k1, c0:c1] (Y: [T, in] with stride ldy), summed over W's rows
// k0..k1 in panels of pk rows, in order; an empty row range writes zeros (or leaves Y when accumulating).
static void bwd_block(const qmm_args *a, float *buf, float *Y, int64_t ldy, int accumulate, int64_t k0, int64_t k1,
                      int64_t c0, int64_t c1, int64_t t0, int64_t t1) {
    if (k0 >= k1) {
        if (!accumulate) for (int64_t r = t0; r < t1; r++) memset(Y + r * ldy + c0, 0, (size_t)(c1 - c0) * sizeof(float));
        return;
    }
    for (int64_t cc = c0; cc < c1; cc += LK_PANEL_COLS) {
        const int64_t nc = min64(LK_PANEL_COLS, c1 - cc), pk = max64(1, LK_PANEL_FLOATS / nc);
        const int64_t col_byte = cc / a->bs * a->bb;
        for (int64_t k = k0; k < k1; k += pk) {
            const int64_t n = min64(pk, k1 - k);
            const float *Wp;
            int64_t ldw;
            if (a->t == LK_F32) {
                Wp = (const float *)(a->W + k * a->row_bytes) + cc;
                ldw = a->in;
            } else {
                for (int64_t r = 0; r < n; r++)
                    lk_dequantize_row_isa(a->isa, a->t, buf + r * nc, a->W + (k + r) * a->row_bytes + col_byte, nc);
                Wp = buf;
                ldw = nc;
            }
            const float beta = (k == k0 && !accumulate) ? 0.0f : 1.0f;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(t1 - t0), (int)nc, (int)n, 1.0f,
                        a->X + t0 * a->ldx + k, (int)a->ldx, Wp, (int)ldw, beta, Y + t0 * ldy + cc, (int)ldy);
        }
    }
}

// Shared set-up of both products: validates, picks the work grid, provides scratch, runs the task.
static void qmm_run(lk_pool *p, void *scratch, lk_task_fn task, qmm_args *a, int64_t split_units) {
    pthread_once(&blas_once, blas_single_thread);
    const int nt = lk_pool_size(p);
    a->nc = (int)min64(nt, max64(1, split_units));
    a->nr = nt / a->nc;
    a->tf = thread_floats(a->out, a->in);
    a->isa = lk_active_isa();
    void *owned = NULL;
    if (a->t != LK_F32) {
        if (!scratch) scratch = owned = malloc(lk_qmatmul_scratch_bytes(p, a->t, a->out, a->in));
        if (!scratch) return;
        a->scratch = align64(scratch);
    }
    lk_pool_run(a->nc * a->nr > 1 ? p : NULL, task, a);
    free(owned);
}

void lk_qmatmul_fwd(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                    const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    if (T <= 0 || out <= 0 || !is_compute_type(t) || in < 0 || in % lk_type_block_size(t) != 0) return;
    if (in == 0) { if (!accumulate) zero_rows(Y, ldy, T, out); return; }
    qmm_args a = {.Y = Y, .X = X, .ldy = ldy, .ldx = ldx, .t = t, .W = (const uint8_t *)W, .out = out, .in = in, .T = T,
                  .bs = lk_type_block_size(t), .bb = lk_type_block_bytes(t), .accumulate = accumulate};
    a.row_bytes = in / a.bs * a.bb;
    // As many out chunks as panels (up to one per thread); the remaining threads split T. Small matrices
    // (one panel) are thus shared by splitting T, which keeps sgemm's N = out wide.
    const int64_t panel_rows = max64(1, LK_PANEL_FLOATS / min64(in, LK_PANEL_COLS));
    qmm_run(p, scratch, fwd_task, &a, (out + panel_rows - 1) / panel_rows);
}

void lk_qmatmul_bwd_data(lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                         lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate) {
    if (T <= 0 || in <= 0 || !is_compute_type(t) || in % lk_type_block_size(t) != 0) return;
    if (out <= 0) { if (!accumulate) zero_rows(dX, lddx, T, in); return; }
    qmm_args a = {.Y = dX, .X = dY, .ldy = lddx, .ldx = lddy, .t = t, .W = (const uint8_t *)W, .out = out, .in = in, .T = T,
                  .bs = lk_type_block_size(t), .bb = lk_type_block_bytes(t), .accumulate = accumulate};
    a.row_bytes = in / a.bs * a.bb;
    const int64_t unit = a.bs >= 16 ? a.bs : 16;
    qmm_run(p, scratch, bwd_task, &a, (in + unit - 1) / unit);
}

// MARK: - Row groups (NUMA node groups)

/// Thread boundaries of row groups: {0, …, nt}, strictly increasing.
static int groups_valid(const int *first, int G, int nt) {
    if (!first || G < 1 || first[0] != 0 || first[G] != nt) return 0;
    for (int g = 0; g < G; g++)
        if (first[g + 1] <= first[g]) return 0;
    return 1;
}

typedef struct qmm_grouped {
    qmm_args a;
    const int *first;           // [G + 1] thread boundaries of the groups
    int G, nt;
    float *partials;            // bwd: [G - 1, T, in] partial dX of groups 1..G-1
} qmm_grouped;

// The group of thread ti, its index j inside the group and the group's thread count.
static int group_of(const qmm_grouped *q, int ti, int *j, int *ng) {
    int g = 0;
    while (g + 1 < q->G && ti >= q->first[g + 1]) g++;
    *j = ti - q->first[g];
    *ng = q->first[g + 1] - q->first[g];
    return g;
}

// Rows of W [n rows] owned by group g: [n·first[g]/nt, n·first[g+1]/nt) (NUMAPlan.rowPartition, align 1).
static void group_rows(const qmm_grouped *q, int g, int64_t n, int64_t *r0, int64_t *r1) {
    *r0 = n * q->first[g] / q->nt;
    *r1 = n * q->first[g + 1] / q->nt;
}

// Forward inside a group: the group's threads split its rows (and T) the way lk_qmatmul_fwd splits all rows.
static void fwd_grouped_task(void *ctx, int ti, int nt) {
    (void)nt;
    const qmm_grouped *q = (const qmm_grouped *)ctx;
    const qmm_args *a = &q->a;
    int j, ng;
    const int g = group_of(q, ti, &j, &ng);
    int64_t r0, r1;
    group_rows(q, g, a->out, &r0, &r1);
    const int64_t kc = min64(a->in, LK_PANEL_COLS), pr = max64(1, LK_PANEL_FLOATS / kc);
    const int nc = (int)min64(ng, max64(1, (r1 - r0 + pr - 1) / pr)), nr = ng / nc;
    if (j >= nc * nr) return;
    int64_t o0, o1, t0, t1;
    split(r1 - r0, j % nc, nc, &o0, &o1);
    split(a->T, j / nc, nr, &t0, &t1);
    if (o0 >= o1 || t0 >= t1) return;
    fwd_block(a, a->scratch ? a->scratch + (int64_t)ti * a->tf : NULL, r0 + o0, r0 + o1, t0, t1);
}

// Backward-data inside a group: group g sums over its own rows of W only, into dX (g = 0) or its partial.
static void bwd_grouped_task(void *ctx, int ti, int nt) {
    (void)nt;
    const qmm_grouped *q = (const qmm_grouped *)ctx;
    const qmm_args *a = &q->a;
    int j, ng;
    const int g = group_of(q, ti, &j, &ng);
    int64_t k0, k1;
    group_rows(q, g, a->out, &k0, &k1);
    const int64_t unit = a->bs >= 16 ? a->bs : 16, units = (a->in + unit - 1) / unit;
    const int nc = (int)min64(ng, max64(1, units)), nr = ng / nc;
    if (j >= nc * nr) return;
    int64_t u0, u1, t0, t1;
    split(units, j % nc, nc, &u0, &u1);
    split(a->T, j / nc, nr, &t0, &t1);
    const int64_t c0 = u0 * unit, c1 = min64(u1 * unit, a->in);
    if (c0 >= c1 || t0 >= t1) return;
    float *Y = g == 0 ? a->Y : q->partials + (int64_t)(g - 1) * a->T * a->in;
    bwd_block(a, a->scratch ? a->scratch + (int64_t)ti * a->tf : NULL, Y, g == 0 ? a->ldy : a->in,
              g == 0 ? a->accumulate : 0, k0, k1, c0, c1, t0, t1);
}

// dX[r, :] += partial_1[r, :], then += partial_2[r, :], …: the same order for every element and thread count.
static void reduce_task(void *ctx, int ti, int nt) {
    const qmm_grouped *q = (const qmm_grouped *)ctx;
    const qmm_args *a = &q->a;
    int64_t t0, t1;
    split(a->T, ti, nt, &t0, &t1);
    for (int64_t r = t0; r < t1; r++) {
        float *d = a->Y + r * a->ldy;
        for (int g = 1; g < q->G; g++) {
            const float *s = q->partials + (int64_t)(g - 1) * a->T * a->in + r * a->in;
            for (int64_t c = 0; c < a->in; c++) d[c] += s[c];
        }
    }
}

// Validates the groups (invalid ones count as one group) and sets up the run; 0 when scratch is missing.
static int grouped_setup(lk_pool *p, void *scratch, qmm_grouped *q, const int *first, int G, const int one[2]) {
    pthread_once(&blas_once, blas_single_thread);
    q->nt = lk_pool_size(p);
    if (!groups_valid(first, G, q->nt)) { first = one; G = 1; }
    q->first = first;
    q->G = G;
    qmm_args *a = &q->a;
    a->tf = thread_floats(a->out, a->in);
    a->isa = lk_active_isa();
    if (a->t != LK_F32) {
        if (!scratch) return 0;
        a->scratch = align64(scratch);
    }
    return 1;
}

size_t lk_qmatmul_partial_floats(int groups, int64_t T, int64_t in) {
    return groups > 1 && T > 0 && in > 0 ? (size_t)(groups - 1) * (size_t)T * (size_t)in : 0;
}

void lk_qmatmul_fwd_grouped(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                            const void *W, int64_t out, int64_t in, int64_t T, int accumulate, const int *group_first,
                            int groups) {
    if (T <= 0 || out <= 0 || !is_compute_type(t) || in < 0 || in % lk_type_block_size(t) != 0) return;
    if (in == 0) { if (!accumulate) zero_rows(Y, ldy, T, out); return; }
    qmm_grouped q = {.a = {.Y = Y, .X = X, .ldy = ldy, .ldx = ldx, .t = t, .W = (const uint8_t *)W, .out = out, .in = in,
                           .T = T, .bs = lk_type_block_size(t), .bb = lk_type_block_bytes(t), .accumulate = accumulate}};
    q.a.row_bytes = in / q.a.bs * q.a.bb;
    void *owned = NULL;
    if (t != LK_F32 && !scratch) scratch = owned = malloc(lk_qmatmul_scratch_bytes(p, t, out, in));
    const int one[2] = {0, lk_pool_size(p)};
    if (grouped_setup(p, scratch, &q, group_first, groups, one))
        lk_pool_run(q.nt > 1 ? p : NULL, fwd_grouped_task, &q);
    free(owned);
}

void lk_qmatmul_bwd_data_grouped(lk_pool *p, void *scratch, float *partials, float *dX, int64_t lddx, const float *dY,
                                 int64_t lddy, lk_type t, const void *W, int64_t out, int64_t in, int64_t T,
                                 int accumulate, const int *group_first, int groups) {
    if (T <= 0 || in <= 0 || !is_compute_type(t) || in % lk_type_block_size(t) != 0) return;
    if (out <= 0) { if (!accumulate) zero_rows(dX, lddx, T, in); return; }
    qmm_grouped q = {.a = {.Y = dX, .X = dY, .ldy = lddx, .ldx = lddy, .t = t, .W = (const uint8_t *)W, .out = out,
                           .in = in, .T = T, .bs = lk_type_block_size(t), .bb = lk_type_block_bytes(t),
                           .accumulate = accumulate}};
    q.a.row_bytes = in / q.a.bs * q.a.bb;
    void *owned = NULL, *owned_partials = NULL;
    if (t != LK_F32 && !scratch) scratch = owned = malloc(lk_qmatmul_scratch_bytes(p, t, out, in));
    const int one[2] = {0, lk_pool_size(p)};
    if (grouped_setup(p, scratch, &q, group_first, groups, one)) {
        const size_t pf = lk_qmatmul_partial_floats(q.G, T, in);
        if (pf > 0 && !partials) partials = owned_partials = (float *)malloc(pf * sizeof(float));
        if (pf == 0 || partials) {
            q.partials = partials;
            lk_pool_run(q.nt > 1 ? p : NULL, bwd_grouped_task, &q);
            if (q.G > 1) lk_pool_run(p, reduce_task, &q);
        }
    }
    free(owned_partials);
    free(owned);
}

// MARK: - lk_sgemm

typedef struct sgemm_args {
    int transA, transB, split_m, parts;
    int64_t M, N, K, lda, ldb, ldc;
    float alpha, beta;
    const float *A, *B;
    float *C;
} sgemm_args;

static void sgemm_task(void *ctx, int ti, int nt) {
    (void)nt;
    const sgemm_args *g = (const sgemm_args *)ctx;
    if (ti >= g->parts) return;
    const int64_t D = g->split_m ? g->M : g->N, units = (D + 15) / 16;
    int64_t u0, u1;
    split(units, ti, g->parts, &u0, &u1);
    const int64_t d0 = u0 * 16, d1 = min64(u1 * 16, D);
    if (d0 >= d1) return;
    const float *A = g->A, *B = g->B;
    float *C = g->C;
    int64_t m = g->M, n = g->N;
    if (g->split_m) {
        A += g->transA ? d0 : d0 * g->lda;
        C += d0 * g->ldc;
        m = d1 - d0;
    } else {
        B += g->transB ? d0 * g->ldb : d0;
        C += d0;
        n = d1 - d0;
    }
    cblas_sgemm(CblasRowMajor, g->transA ? CblasTrans : CblasNoTrans, g->transB ? CblasTrans : CblasNoTrans, (int)m,
                (int)n, (int)g->K, g->alpha, A, (int)g->lda, B, (int)g->ldb, g->beta, C, (int)g->ldc);
}

void lk_sgemm(lk_pool *p, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    pthread_once(&blas_once, blas_single_thread);
    if (K <= 0 || alpha == 0.0f) { // C = beta * C (beta == 0: zeros, whatever C held)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return;
    }
    sgemm_args g = {.transA = transA, .transB = transB, .split_m = M >= N, .M = M, .N = N, .K = K, .lda = lda,
                    .ldb = ldb, .ldc = ldc, .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C};
    g.parts = (int)min64(lk_pool_size(p), ((g.split_m ? M : N) + 15) / 16);
    lk_pool_run(g.parts > 1 ? p : NULL, sgemm_task, &g);
}

// MARK: - References

void lk_qmatmul_fwd_ref(float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t, const void *W, int64_t out,
                        int64_t in, int64_t T) {
    const int64_t bs = lk_type_block_size(t);
    if (T <= 0 || out <= 0 || in < 0 || bs == 0 || in % bs != 0) return;
    const int64_t row_bytes = in / bs * lk_type_block_bytes(t);
    float *w = (float *)malloc((size_t)max64(in, 1) * sizeof(float)); // [in]
    if (!w) return;
    for (int64_t o = 0; o < out; o++) {
        lk_dequantize_row_ref(t, w, (const uint8_t *)W + o * row_bytes, in);
        for (int64_t r = 0; r < T; r++) {
            double s = 0.0;
            for (int64_t i = 0; i < in; i++) s += (double)X[r * ldx + i] * (double)w[i];
            Y[r * ldy + o] = (float)s;
        }
    }
    free(w);
}

void lk_qmatmul_bwd_data_ref(float *dX, int64_t lddx, const float *dY, int64_t lddy, lk_type t, const void *W,
                             int64_t out, int64_t in, int64_t T) {
    const int64_t bs = lk_type_block_size(t);
    if (T <= 0 || in <= 0 || out < 0 || bs == 0 || in % bs != 0) return;
    const int64_t row_bytes = in / bs * lk_type_block_bytes(t);
    float *w = (float *)malloc((size_t)in * sizeof(float));           // [in]
    double *acc = (double *)calloc((size_t)(T * in), sizeof(double)); // [T, in]
    if (w && acc) {
        for (int64_t o = 0; o < out; o++) {
            lk_dequantize_row_ref(t, w, (const uint8_t *)W + o * row_bytes, in);
            for (int64_t r = 0; r < T; r++) {
                const double g = dY[r * lddy + o];
                for (int64_t i = 0; i < in; i++) acc[r * in + i] += g * (double)w[i];
            }
        }
        for (int64_t r = 0; r < T; r++)
            for (int64_t i = 0; i < in; i++) dX[r * lddx + i] = (float)acc[r * in + i];
    }
    free(w);
    free(acc);
}
