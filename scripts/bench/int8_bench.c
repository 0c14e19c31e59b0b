// Times lk_qmatmul_fwd_int8 / lk_qmatmul_bwd_data_int8 alone on random Q4_0 weights (scripts/bench/int8-bench.sh).
// usage: int8_bench out in T bwd(0|1) [threads=1] [reps=5]; prints the best time, GOP/s and the share of
// threads x the core's vpdpbusd peak (lk_peak_ops_per_second).
#include "lk_matmul_int8.h"
#include "lk_peak.h"
#include "lk_pool.h"
#include "lk_quant.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s out in T bwd(0|1) [threads] [reps]\n", argv[0]);
        return 2;
    }
    const int64_t out = atoll(argv[1]), in = atoll(argv[2]), T = atoll(argv[3]);
    const int bwd = atoi(argv[4]), nt = argc > 5 ? atoi(argv[5]) : 1, reps = argc > 6 ? atoi(argv[6]) : 5;
    const lk_type t = LK_Q4_0;
    if (out <= 0 || in <= 0 || T <= 0 || in % 32 || out % 32 || nt < 1 || nt > 256) {
        fprintf(stderr, "out and in must be positive multiples of 32, T > 0, 1 <= threads <= 256\n");
        return 2;
    }
    const size_t rb = (size_t)(in / lk_type_block_size(t) * lk_type_block_bytes(t));
    uint8_t *W = malloc(rb * (size_t)out);
    float *row = malloc((size_t)in * sizeof(float));
    const int64_t K = bwd ? out : in, N = bwd ? in : out;
    float *X = malloc((size_t)(T * K) * sizeof(float)), *Y = malloc((size_t)(T * N) * sizeof(float));
    void *scratch = malloc(lk_int8_scratch_bytes(nt, T, K) + 64);
    if (!W || !row || !X || !Y || !scratch) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    srand(1);
    for (int64_t o = 0; o < out; o++) {
        for (int64_t i = 0; i < in; i++) row[i] = rand() / (float)RAND_MAX - 0.5f;
        lk_quantize_row(t, W + o * rb, row, in);
    }
    for (int64_t i = 0; i < T * K; i++) X[i] = rand() / (float)RAND_MAX - 0.5f;
    int cpus[256];
    for (int i = 0; i < nt; i++) cpus[i] = i;
    lk_pool *p = nt > 1 ? lk_pool_create(nt, cpus) : NULL;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        const double t0 = now();
        if (bwd) lk_qmatmul_bwd_data_int8(p, scratch, Y, N, X, K, t, W, out, in, T, 0);
        else lk_qmatmul_fwd_int8(p, scratch, Y, N, X, K, t, W, out, in, T, 0);
        const double d = now() - t0;
        if (d < best) best = d;
    }
    const double ops = 2.0 * (double)out * (double)in * (double)T, peak = lk_peak_ops_per_second(LK_PEAK_INT8, 0.3);
    printf("%s %lldx%lld T=%lld threads=%d: %.4f s %.1f GOP/s, %.0f%% of %d x %.1f G/s\n", bwd ? "bwd_data" : "fwd",
           (long long)out, (long long)in, (long long)T, nt, best, ops / best / 1e9, 100 * ops / best / (peak * nt), nt,
           peak / 1e9);
    lk_pool_destroy(p);
    return 0;
}
