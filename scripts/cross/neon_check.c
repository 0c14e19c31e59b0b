// Cross-check of the NEON row kernels against the scalar reference on random blocks (random bytes, every fp16
// scale field a finite random half), bit for bit, for every type of the traits table. Built and run under
// qemu-user by scripts/cross/neon-check.sh (the development machine is x86-64).
#include "lk_quant.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s; }
static uint16_t rand_half(void) { // finite: |v| in [2^-12, 2)
    const float mag = ldexpf(1.0f + (float)(next() % 1000) / 1000.0f, (int)(next() % 13) - 12);
    return lk_fp32_to_fp16(next() & 1 ? mag : -mag);
}

int main(void) {
    const lk_type types[] = {LK_F16, LK_BF16, LK_Q8_0, LK_Q4_0, LK_Q4_1, LK_Q5_0, LK_Q5_1, LK_Q4_K, LK_Q5_K, LK_Q6_K};
    int failures = 0, checked = 0;
    for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
        const lk_type_traits *tt = lk_type_traits_get(types[k]);
        if (!tt->dequantize[LK_ISA_NEON]) { printf("%s: no NEON kernel\n", tt->name); failures++; continue; }
        for (int rep = 0; rep < 50; rep++) {
            const int64_t nb = 1 + (int64_t)(next() % 9), n = nb * tt->block_size * (tt->block_size == 1 ? 37 : 1);
            const int64_t bytes = n / tt->block_size * tt->block_bytes;
            uint8_t *x = malloc((size_t)bytes);
            for (int64_t i = 0; i < bytes; i++) x[i] = (uint8_t)next();
            for (int64_t b = 0; b < bytes / tt->block_bytes; b++) {
                uint8_t *o = x + b * tt->block_bytes;
                uint16_t h1 = rand_half(), h2 = rand_half();
                if (types[k] == LK_F16 || types[k] == LK_BF16) { if (types[k] == LK_F16) memcpy(o, &h1, 2); continue; }
                if (types[k] == LK_Q6_K) { memcpy(o + 208, &h1, 2); continue; }
                memcpy(o, &h1, 2);
                if (types[k] == LK_Q4_1 || types[k] == LK_Q5_1 || types[k] == LK_Q4_K || types[k] == LK_Q5_K) memcpy(o + 2, &h2, 2);
            }
            float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
            memset(a, 0xff, (size_t)n * 4);
            memset(b, 0xee, (size_t)n * 4);
            tt->dequantize[LK_ISA_SCALAR](a, x, n);
            tt->dequantize[LK_ISA_NEON](b, x, n);
            if (memcmp(a, b, (size_t)n * 4) != 0) {
                for (int64_t i = 0; i < n; i++)
                    if (memcmp(a + i, b + i, 4)) { printf("%s n=%lld: element %lld ref %.9g neon %.9g\n", tt->name, (long long)n, (long long)i, a[i], b[i]); break; }
                failures++;
            }
            checked++;
            free(x); free(a); free(b);
        }
    }
    printf("NEON vs reference: %d rows checked, %d failures\n", checked, failures);
    return failures != 0;
}
