// Byte and RMSE comparison of LoRAKit's lk_quantize_row with ggml's quantize_row_*_ref on real fp32 rows (a raw
// float32 file of [rows, cols]). Build and run: scripts/verify/ggml-quantize-compare.sh FILE.bin COLS [native]
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lk_quant.h"
void quantize_row_q4_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q6_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_0_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_1_ref(const float *x, void *y, int64_t k);
void quantize_row_q4_1_ref(const float *x, void *y, int64_t k);
void ggml_abort(const char *f, int l, const char *fmt, ...) { fprintf(stderr, "abort %s:%d\n", f, l); exit(1); }
size_t ggml_row_size(int t, int64_t n) { (void)t; (void)n; return 0; }
const char *ggml_type_name(int t) { (void)t; return "?"; }
size_t ggml_type_size(int t) { (void)t; return 0; }
int main(int argc, char **argv) {
    FILE *f = fopen(argv[1], "rb"); const int64_t cols = atoll(argv[2]);
    fseek(f, 0, SEEK_END); int64_t n = ftell(f) / 4; fseek(f, 0, SEEK_SET);
    n -= n % cols;
    float *x = malloc(n * 4), *ya = malloc(n * 4), *yb = malloc(n * 4);
    if (fread(x, 4, n, f) != (size_t)n) return 1;
    struct { lk_type t; void (*g)(const float *, void *, int64_t); } ts[] = {
        {LK_Q4_1, quantize_row_q4_1_ref}, {LK_Q5_0, quantize_row_q5_0_ref}, {LK_Q5_1, quantize_row_q5_1_ref},
        {LK_Q4_K, quantize_row_q4_K_ref}, {LK_Q5_K, quantize_row_q5_K_ref}, {LK_Q6_K, quantize_row_q6_K_ref}};
    for (int k = 0; k < 6; k++) {
        const lk_type_traits *tt = lk_type_traits_get(ts[k].t);
        if (cols % tt->block_size) continue;
        const int64_t nb = n / tt->block_size, bytes = nb * tt->block_bytes;
        unsigned char *a = malloc(bytes), *b = malloc(bytes);
        lk_quantize_row(ts[k].t, a, x, n);
        ts[k].g(x, b, n);
        int64_t same = 0;
        for (int64_t i = 0; i < nb; i++) same += memcmp(a + i * tt->block_bytes, b + i * tt->block_bytes, tt->block_bytes) == 0;
        lk_dequantize_row_ref(ts[k].t, ya, a, n);
        lk_dequantize_row_ref(ts[k].t, yb, b, n);
        double ea = 0, eb = 0, s = 0;
        for (int64_t i = 0; i < n; i++) { ea += (double)(ya[i] - x[i]) * (ya[i] - x[i]); eb += (double)(yb[i] - x[i]) * (yb[i] - x[i]); s += (double)x[i] * x[i]; }
        printf("%-5s blocks identical %lld/%lld (%.4f%%)  rel RMSE lorakit %.6f ggml %.6f  ratio %.6f\n", tt->name, (long long)same, (long long)nb,
               100.0 * same / nb, sqrt(ea / s), sqrt(eb / s), sqrt(ea / eb));
        free(a); free(b);
    }
    return 0;
}
