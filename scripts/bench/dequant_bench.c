// Row dequantization speed of each block type (ns per element, best of 30 interleaved runs over a 1 MB panel of
// floats), AVX-512 and AVX2, relative to Q4_1. Build and run: scripts/bench/dequant-bench.sh
#include "lk_quant.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }
int main(int argc, char **argv) {
    const lk_type types[] = {LK_Q4_1, LK_Q4_0, LK_Q8_0, LK_Q5_0, LK_Q5_1, LK_Q4_K, LK_Q5_K, LK_Q6_K};
    const int64_t n = 1024 * 256; // one 1 MB panel of floats
    float *x = malloc(n * 4), *y = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) x[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (int isa = 3; isa >= 2; isa--) {
        double best[8] = {1e9,1e9,1e9,1e9,1e9,1e9,1e9,1e9};
        void *q[8];
        for (int k = 0; k < 8; k++) { q[k] = malloc(n / lk_type_block_size(types[k]) * lk_type_block_bytes(types[k])); lk_quantize_row(types[k], q[k], x, n); }
        for (int rep = 0; rep < 30; rep++)
            for (int k = 0; k < 8; k++) {
                double t0 = now();
                for (int r = 0; r < 4; r++) lk_dequantize_row_isa((lk_isa)isa, types[k], y, q[k], n);
                double dt = (now() - t0) / 4;
                if (dt < best[k]) best[k] = dt;
            }
        printf("isa %s:", isa == 3 ? "avx512" : "avx2");
        for (int k = 0; k < 8; k++) printf(" %s %.3f ns/el (%.2fx)", lk_type_traits_get(types[k])->name, best[k] / n * 1e9, best[k] / best[0]);
        printf("\n");
    }
    return 0;
}
