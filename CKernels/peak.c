// lk_peak_ops_per_second: picks the instruction the products would use on this CPU and times its loop.
#include "lk_peak.h"
#include "lk_cpu.h"
#include "peak_internal.h"
#include <time.h>

typedef double (*peak_loop)(int64_t iters);

static peak_loop loop_for(lk_peak_kind kind, const char **name) {
    const uint32_t f = lk_cpu_features();
    *name = "none";
    (void)f;
#if defined(__x86_64__)
    switch (kind) {
    case LK_PEAK_FP32:
        if (f & LK_CPU_AVX512) { *name = "vfmadd231ps zmm"; return lk_peak_fp32_avx512; }
        if (f & LK_CPU_AVX2) { *name = "vfmadd231ps ymm"; return lk_peak_fp32_avx2; }
        return 0;
    case LK_PEAK_BF16:
        if ((f & LK_CPU_AVX512) && (f & LK_CPU_AVX512_BF16)) { *name = "vdpbf16ps zmm"; return lk_peak_bf16_avx512; }
        return 0;
    case LK_PEAK_INT8:
        if ((f & LK_CPU_AVX512) && (f & LK_CPU_AVX512_VNNI)) { *name = "vpdpbusd zmm"; return lk_peak_int8_vnni; }
        if (f & LK_CPU_AVX2) { *name = "vpmaddubsw+vpmaddwd+vpaddd ymm"; return lk_peak_int8_avx2; }
        return 0;
    }
#elif defined(__aarch64__)
    switch (kind) {
    case LK_PEAK_FP32:
        if (f & LK_CPU_NEON) { *name = "fmla 4s"; return lk_peak_fp32_neon; }
        return 0;
    case LK_PEAK_BF16:
        return 0;
    case LK_PEAK_INT8:
        if (f & LK_CPU_NEON_DOTPROD) { *name = "sdot 4s"; return lk_peak_int8_neon; }
        return 0;
    }
#endif
    (void)kind;
    return 0;
}

const char *lk_peak_instruction(lk_peak_kind kind) {
    const char *name;
    (void)loop_for(kind, &name);
    return name;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

double lk_peak_ops_per_second(lk_peak_kind kind, double seconds) {
    const char *name;
    const peak_loop loop = loop_for(kind, &name);
    if (!loop) return 0;
    if (seconds < 0.01) seconds = 0.01;
    (void)loop(10000);  // warm up (clock ramps, AVX-512 power licence)
    // Double the iterations until one run lasts a third of `seconds`, then keep the best of three runs.
    int64_t iters = 100000;
    for (;;) {
        const double t0 = now_seconds();
        (void)loop(iters);
        if (now_seconds() - t0 >= seconds / 3 || iters >= ((int64_t)1 << 40)) break;
        iters *= 2;
    }
    double best = 0;
    for (int k = 0; k < 3; k++) {
        const double t0 = now_seconds();
        const double ops = loop(iters);
        const double dt = now_seconds() - t0;
        if (dt > 0 && ops / dt > best) best = ops / dt;
    }
    return best;
}
