// Internal: the int8 microkernel of matmul_int8.c (see lk_matmul_int8.h for the arithmetic).
// C[r, j] (+)= Σ_g fma-chain over ng groups of G elements (G = 16 or 32), r < mr ≤ LK_I8_MR, j < nr ≤ 32:
//   isum = Σ_i bp[g, i, j] · a[r][gG + i]              (weights u8 = wi + z, activations s8: exact int32)
//   f    = fma((float)isum, bs[g][j] · ad[r][g], f)
//   f    = fma(bb[g][j], as[r][g], f)                  (bb = Bw - z·Sw: the zero point and the type's bias in one)
// C = f (add == 0) or C + f. Strip layout: bp u8 [ng·G/4][32][4] (4 consecutive k of column j at (k/4·32 + j)·4),
// bs, bb float [ng][32]. `wide`: weights may exceed 127 (Q8_0, backward's requantized W), which plain AVX2's 16-bit
// pair sums must handle apart. Every implementation does exactly these float operations: all give the same bits.
#pragma once
#include <stdint.h>
#include <string.h>
#include "lk_quant.h"

#define LK_I8_MR 4

/// The forward weights' zero point z of type t (wi + z ≥ 0 for every wi the type stores): 128 Q8_0, 8 Q4_0, 16 Q5_0,
/// 32 Q6_K, 0 for the types with a min (their wi are already ≥ 0).
int lk_int8_zero_point(lk_type t);

/// Round to nearest even for |v| < 2^22 (v + 1.5·2^23 lands on an integer ulp; no libm call, no FMA).
static inline int lk_i8_round_even(float v) {
    const float f = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007fffff) - 0x00400000;
}

typedef void (*lk_i8_kernel)(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad,
                             const float *const *as, const uint8_t *bp, const float *bs, const float *bb, int64_t ng,
                             int G, int wide, int mr, int nr, int add);
/// x [n] → q [n], d [n/G], s [n/G] (lk_int8_quantize_row_ref).
typedef void (*lk_i8_quant_fn)(int8_t *q, float *d, float *s, const float *x, int64_t n, int G);

void lk_i8_kernel_ref(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const float *const *as,
                      const uint8_t *bp, const float *bs, const float *bb, int64_t ng, int G, int wide, int mr, int nr,
                      int add);
void lk_i8_quant_ref(int8_t *q, float *d, float *s, const float *x, int64_t n, int G);
#if defined(__x86_64__)
void lk_i8_kernel_avx512(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const float *const *as,
                      const uint8_t *bp, const float *bs, const float *bb, int64_t ng, int G, int wide, int mr, int nr,
                      int add);
void lk_i8_kernel_avx2(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const float *const *as,
                      const uint8_t *bp, const float *bs, const float *bb, int64_t ng, int G, int wide, int mr, int nr,
                      int add);
void lk_i8_quant_avx512(int8_t *q, float *d, float *s, const float *x, int64_t n, int G);
#endif
