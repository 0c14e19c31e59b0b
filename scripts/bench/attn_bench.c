// Times lk_attention_fwd_bf16 / lk_attention_bwd_bf16 (and the fp32 ones) alone on random data
// (scripts/bench/attn-bench.sh). usage: attn_bench B S Hq Hkv hd [threads=1] [reps=3] [bf16=1] [packed=0]
// (packed: random example boundaries in every row, as packed batches have, plus a 40-key window from the middle);
// prints the best forward and backward time, their GFLOP/s (causal: the products over the S(S+1)/2 visible pairs;
// forward 2 products, backward the 5 a fused kernel needs), the share of threads x the core's bf16 (or fp32) peak
// and a hash of the outputs (equal hashes: bitwise equal results).
#include "lk_ops.h"
#include "lk_peak.h"
#include "lk_pool.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *rnd(int64_t n) {
    float *x = malloc((size_t)n * sizeof(float));
    if (!x) exit(1);
    for (int64_t i = 0; i < n; i++) x[i] = rand() / (float)RAND_MAX - 0.5f;
    return x;
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s B S Hq Hkv hd [threads] [reps] [bf16]\n", argv[0]);
        return 2;
    }
    const int64_t B = atoll(argv[1]), S = atoll(argv[2]), Hq = atoll(argv[3]), Hkv = atoll(argv[4]),
                  hd = atoll(argv[5]);
    const int nt = argc > 6 ? atoi(argv[6]) : 1, reps = argc > 7 ? atoi(argv[7]) : 3, bf = argc > 8 ? atoi(argv[8]) : 1;
    if (B <= 0 || S <= 0 || Hkv <= 0 || Hq % Hkv || hd <= 0 || nt < 1 || nt > 256) {
        fprintf(stderr, "bad shape\n");
        return 2;
    }
    srand(1);
    const int64_t nq = B * S * Hq * hd, nk = B * S * Hkv * hd;
    float *q = rnd(nq), *k = rnd(nk), *v = rnd(nk), *dout = rnd(nq);
    float *out = malloc(nq * 4), *lse = malloc(B * Hq * S * 4), *dq = malloc(nq * 4), *dk = malloc(nk * 4),
          *dv = malloc(nk * 4);
    for (int64_t i = 0; i < nq; i++) q[i] *= 4.0f; // peaked softmax rows, as trained models have
    int32_t *fk = NULL;
    if (argc > 9 && atoi(argv[9])) {
        fk = malloc((size_t)(B * S) * sizeof(int32_t));
        for (int64_t b = 0; b < B; b++) {
            int32_t start = 0;
            for (int64_t t = 0; t < S; t++) {
                if (t > 0 && rand() % 37 == 0) start = (int32_t)t;
                const int32_t w = t >= S / 2 && t - 39 > start ? (int32_t)(t - 39) : start; // window of 40 keys
                fk[b * S + t] = w;
            }
        }
    }
    int cpus[256];
    for (int i = 0; i < nt; i++) cpus[i] = i;
    lk_pool *p = nt > 1 ? lk_pool_create(nt, cpus) : NULL;
    float *sf = malloc(lk_attention_scratch_floats(p, B, S, Hq, Hkv, hd) * 4);
    float *sb = malloc(lk_attention_bwd_scratch_floats(p, B, S, Hq, Hkv, hd) * 4);
    const float scale = 1.0f / sqrtf((float)hd);
    double bf_ = 1e30, bb = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (bf) lk_attention_fwd_bf16(p, sf, out, lse, q, k, v, fk, B, S, Hq, Hkv, hd, scale);
        else lk_attention_fwd(p, sf, out, lse, q, k, v, fk, B, S, Hq, Hkv, hd, scale);
        double d = now() - t0;
        if (d < bf_) bf_ = d;
        t0 = now();
        if (bf) lk_attention_bwd_bf16(p, sb, dq, dk, dv, dout, out, lse, q, k, v, fk, B, S, Hq, Hkv, hd, scale);
        else lk_attention_bwd(p, sb, dq, dk, dv, dout, out, lse, q, k, v, fk, B, S, Hq, Hkv, hd, scale);
        d = now() - t0;
        if (d < bb) bb = d;
    }
    uint64_t hash = 1469598103934665603ull; // FNV-1a over the outputs' bytes: equal hashes = bitwise equal results
    const float *outs[4] = {out, dq, dk, dv};
    const int64_t lens[4] = {nq, nq, nk, nk};
    for (int o = 0; o < 4; o++) {
        const unsigned char *bytes = (const unsigned char *)outs[o];
        for (int64_t i = 0; i < lens[o] * 4; i++) hash = (hash ^ bytes[i]) * 1099511628211ull;
    }
    const double pair = (double)B * Hq * (double)S * (S + 1) / 2 * hd * 2; // flops of one product
    const double peak = lk_peak_ops_per_second(bf ? LK_PEAK_BF16 : LK_PEAK_FP32, 0.3) * nt;
    printf("B=%lld S=%lld Hq=%lld Hkv=%lld hd=%lld %s threads=%d: fwd %.4f s %.1f GFLOP/s (%.0f%%), bwd %.4f s %.1f "
           "GFLOP/s (%.0f%%) hash %016llx\n",
           (long long)B, (long long)S, (long long)Hq, (long long)Hkv, (long long)hd, bf ? "bf16" : "fp32", nt, bf_,
           2 * pair / bf_ / 1e9, 100 * 2 * pair / bf_ / peak, bb, 5 * pair / bb / 1e9, 100 * 5 * pair / bb / peak,
           (unsigned long long)hash);
    lk_pool_destroy(p);
    return 0;
}
