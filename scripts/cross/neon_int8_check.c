// Cross-check of the NEON int8 products (arm/matmul_int8_neon.c) against the scalar path, bit for bit: the quantizer
// and backward-data packing directly (random rows plus zero, tiny, huge, NaN and infinite values), then
// lk_qmatmul_fwd_int8_isa / lk_qmatmul_bwd_data_int8_isa with LK_ISA_NEON vs LK_ISA_SCALAR on random blocks of every
// int8 type, ragged shapes (T not a multiple of 4, N not a multiple of 32, short last groups, K > the 512 panel),
// strided outputs, accumulate on and off, 1-3 pool "threads". Built and run under qemu-user by
// scripts/cross/neon-int8-check.sh. argv[1]: the kernel name lk_int8_kernel_name(LK_ISA_NEON) must give on this CPU
// ("neon-dotprod", or "scalar" on a CPU without the dot-product extension).
#include "lk_matmul_int8.h"
#include "lk_matmul_int8_kernel.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// pool.c needs OpenBLAS's headers, absent from the cross sysroot: a sequential stand-in that runs every thread
// index in turn (the products' column split is the same; the threads' outputs are disjoint).
struct lk_pool { int n; };
lk_pool *lk_pool_create(int n_threads, const int *cpus) {
    (void)cpus;
    lk_pool *p = malloc(sizeof *p);
    p->n = n_threads < 1 ? 1 : n_threads;
    return p;
}
void lk_pool_destroy(lk_pool *p) { free(p); }
int lk_pool_size(const lk_pool *p) { return p ? p->n : 1; }
void lk_pool_run(lk_pool *p, lk_task_fn fn, void *ctx) {
    const int n = lk_pool_size(p);
    for (int i = 0; i < n; i++) fn(ctx, i, n);
}

static uint64_t s = 0x2545F4914F6CDD1Dull;
static uint64_t next(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
static float uniform(void) { return (float)(next() >> 40) / 16777216.0f * 2.0f - 1.0f; } // [-1, 1)
static uint16_t rand_half(void) { // finite: |v| in [2^-12, 2)
    const float mag = ldexpf(1.0f + (float)(next() % 1000) / 1000.0f, (int)(next() % 13) - 12);
    return lk_fp32_to_fp16(next() & 1 ? mag : -mag);
}
static float *rand_floats(int64_t n, float scale) {
    float *x = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = scale * uniform();
    return x;
}
// Random bytes, every fp16 scale field a finite random half (as scripts/cross/neon_check.c).
static uint8_t *rand_blocks(lk_type t, int64_t rows, int64_t n) {
    const int64_t bb = lk_type_block_bytes(t), nb = rows * (n / lk_type_block_size(t));
    uint8_t *x = malloc((size_t)(nb * bb));
    for (int64_t i = 0; i < nb * bb; i++) x[i] = (uint8_t)next();
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *o = x + b * bb;
        const uint16_t h1 = rand_half(), h2 = rand_half();
        if (t == LK_Q6_K) { memcpy(o + 208, &h1, 2); continue; }
        memcpy(o, &h1, 2);
        if (t == LK_Q4_1 || t == LK_Q5_1 || t == LK_Q4_K || t == LK_Q5_K) memcpy(o + 2, &h2, 2);
    }
    return x;
}

static int failures, checked;
static void expect_same(const void *a, const void *b, size_t bytes, const char *what) {
    checked++;
    if (memcmp(a, b, bytes) == 0) return;
    failures++;
    printf("DIFFERENT: %s\n", what);
}

// Rows with the special values the quantizer must treat as the reference does.
static void poison(float *x, int64_t n) {
    const float special[] = {0.0f, -0.0f, 1e-42f, -3e-39f, 3e38f, INFINITY, -INFINITY, NAN, 0.5f, -0.5f};
    for (int i = 0; i < 6; i++) x[next() % n] = special[next() % 10];
}

static void check_quant(void) {
    const int64_t ns[] = {16, 32, 48, 256, 272, 576, 1056};
    char what[128];
    for (int rep = 0; rep < 40; rep++)
        for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++) {
            const int64_t n = ns[c];
            float *x = rand_floats(n, ldexpf(1, (int)(next() % 40) - 20));
            if (rep % 4 == 1) poison(x, n);
            if (rep % 4 == 2) for (int64_t i = 0; i < n && i < 256; i++) x[i] = 0; // an all-zero group
            if (rep % 4 == 3) for (int64_t i = 0; i < n; i++) x[i] *= 1e-37f;      // denormal scales
            float *mul = rand_floats(n, 4);
            for (int v = 0; v < 4; v++) {
                const int flip = v & 1 ? 0x80 : 0;
                const float *mm = v & 2 ? mul : NULL;   // with and without the smoothing multipliers
                int8_t q1[1056], q2[1056];
                float d1[8], d2[8];
                int32_t s1[8], s2[8];
                lk_i8_quant_ref(q1, d1, s1, x, mm, n, LK_INT8_GROUP, flip);
                lk_i8_quant_neon(q2, d2, s2, x, mm, n, LK_INT8_GROUP, flip);
                const int64_t ng = (n + LK_INT8_GROUP - 1) / LK_INT8_GROUP;
                snprintf(what, sizeof what, "quant n=%lld rep %d flip %d mul %d", (long long)n, rep, flip, mm != NULL);
                expect_same(q1, q2, (size_t)n, what);
                expect_same(d1, d2, (size_t)ng * 4, what);
                expect_same(s1, s2, (size_t)ng * 4, what);
            }
            free(mul);
            free(x);
        }
}

static void check_pack(void) {
    const int64_t lens[] = {4, 32, 64, 252, 256};
    char what[128];
    for (int rep = 0; rep < 40; rep++)
        for (size_t c = 0; c < sizeof lens / sizeof lens[0]; c++) {
            const int64_t len = lens[c], ld = 32 + 4 * (next() % 3);
            float *src = rand_floats(len * ld, ldexpf(1, (int)(next() % 40) - 20));
            if (rep % 4 == 1) poison(src, len * ld);
            if (rep % 4 == 2) for (int64_t k = 0; k < len; k++) src[k * ld + 5] = 0; // an all-zero column
            if (rep % 4 == 3) for (int64_t i = 0; i < len * ld; i++) src[i] *= 1e-37f;
            int8_t b1[256 * 32], b2[256 * 32];
            float bs1[32], bs2[32];
            int32_t bc1[32], bc2[32];
            lk_i8_pack_ref(b1, bs1, bc1, src, ld, len);
            lk_i8_pack_neon(b2, bs2, bc2, src, ld, len);
            snprintf(what, sizeof what, "pack len=%lld ld=%lld rep %d", (long long)len, (long long)ld, rep);
            expect_same(b1, b2, (size_t)(len * 32), what);
            expect_same(bs1, bs2, sizeof bs1, what);
            expect_same(bc1, bc2, sizeof bc1, what);
            free(src);
        }
}

static void check_products(lk_pool *pools[3]) {
    const lk_type types[] = {LK_Q8_0, LK_Q4_0, LK_Q4_1, LK_Q5_0, LK_Q5_1, LK_Q4_K, LK_Q5_K, LK_Q6_K};
    // (T, out, in): forward sums over in (K), writes out (N); backward-data sums over out (K, a multiple of 32)
    // and writes in (N).
    const int64_t small[][3] = {{1, 37, 64}, {7, 70, 96}, {9, 300, 576}, {5, 45, 1056}, {3, 600, 64}, {6, 288, 1056},
                                {5, 576, 96}, {3, 1056, 320}, {2, 64, 32}};
    const int64_t big[][3] = {{1, 37, 256}, {9, 300, 512}, {6, 45, 1280}, {2, 544, 256}, {7, 96, 768},
                              {5, 576, 512}, {3, 1056, 256}};
    char what[160];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const lk_type t = types[ti];
        const int kq = lk_type_block_size(t) == 256;
        const size_t nshapes = kq ? sizeof big / sizeof big[0] : sizeof small / sizeof small[0];
        for (size_t si = 0; si < nshapes; si++) {
            const int64_t T = kq ? big[si][0] : small[si][0], out = kq ? big[si][1] : small[si][1],
                          in = kq ? big[si][2] : small[si][2];
            uint8_t *W = rand_blocks(t, out, in);
            for (int bwd = 0; bwd <= 1; bwd++) {
                if (bwd && out % 32 != 0) continue;
                const int64_t K = bwd ? out : in, N = bwd ? in : out, ldy = N + 3;
                float *x = rand_floats(T * (K + 5), 2.0f), *y0 = rand_floats(T * ldy, 1.0f);
                float *y1 = malloc((size_t)(T * ldy) * 4), *y2 = malloc((size_t)(T * ldy) * 4);
                for (int acc = 0; acc <= 1; acc++)
                    for (int pi = 0; pi < 3; pi++) {
                        memcpy(y1, y0, (size_t)(T * ldy) * 4);
                        memcpy(y2, y0, (size_t)(T * ldy) * 4);
                        if (bwd) {
                            lk_qmatmul_bwd_data_int8_isa(LK_ISA_SCALAR, NULL, NULL, y1, ldy, x, K + 5, t, W, out, in, T, acc);
                            lk_qmatmul_bwd_data_int8_isa(LK_ISA_NEON, pools[pi], NULL, y2, ldy, x, K + 5, t, W, out, in, T, acc);
                        } else {
                            lk_qmatmul_fwd_int8_isa(LK_ISA_SCALAR, NULL, NULL, y1, ldy, x, K + 5, t, W, out, in, T, acc);
                            lk_qmatmul_fwd_int8_isa(LK_ISA_NEON, pools[pi], NULL, y2, ldy, x, K + 5, t, W, out, in, T, acc);
                        }
                        snprintf(what, sizeof what, "%s %s T=%lld out=%lld in=%lld accumulate=%d threads=%d",
                                 lk_type_traits_get(t)->name, bwd ? "bwd_data" : "fwd", (long long)T, (long long)out, (long long)in,
                                 acc, pi + 1);
                        expect_same(y1, y2, (size_t)(T * ldy) * 4, what);
                        if (memcmp(y1, y0, (size_t)(T * ldy) * 4) == 0) { failures++; printf("NOT WRITTEN: %s\n", what); }
                    }
                free(x); free(y0); free(y1); free(y2);
            }
            free(W);
        }
    }
}

int main(int argc, char **argv) {
    const char *name = lk_int8_kernel_name(LK_ISA_NEON);
    printf("CPU: neon %d, dotprod %d; int8 kernel for LK_ISA_NEON: %s; lk_int8_matmul_native %d\n",
           (lk_cpu_features() & LK_CPU_NEON) != 0, (lk_cpu_features() & LK_CPU_NEON_DOTPROD) != 0, name,
           lk_int8_matmul_native());
    if (argc > 1 && strcmp(argv[1], name) != 0) { printf("expected kernel %s\n", argv[1]); return 1; }
    if (lk_cpu_features() & LK_CPU_NEON) { // the quantizer and packing are plain NEON: checked on any AArch64 CPU
        check_quant();
        check_pack();
        printf("quantizer and packing: %d comparisons, %d failures\n", checked, failures);
    }
    lk_pool *pools[3] = {NULL, lk_pool_create(2, NULL), lk_pool_create(3, NULL)};
    const int before = checked, failed_before = failures;
    check_products(pools);
    printf("products (NEON path vs scalar): %d comparisons, %d failures\n", checked - before, failures - failed_before);
    for (int i = 0; i < 3; i++) lk_pool_destroy(pools[i]);
    return failures != 0;
}
