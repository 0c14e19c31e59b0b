// Internal: the int8 microkernel of matmul_int8.c (see lk_matmul_int8.h for the arithmetic).
// C[r, j] (+)= Σ_g fma-chain over ng groups of G elements (G = 16 or 32), r < mr ≤ LK_I8_MR, j < nr ≤ 32:
//   isum = bc[g][j] + Σ_i a[r][gG + i] · bp[g, i, j]      (a: u8 = xi + 128, so bc = -128·Σ_i wi makes isum = Σ xi·wi)
//   f    = fma((float)isum, bs[g][j] · ad[r][g], f)
//   f    = fma(bb[g][j], as[r][g], f)                     (only when bb != NULL)
// C = f (add == 0) or C + f. Strip layout: bp int8 [ng·G/4][32][4] (4 consecutive k of column j at (k/4·32 + j)·4),
// bc int32 / bs, bb float [ng][32]. Every implementation does exactly these float operations, so all give the same bits.
#pragma once
#include <stdint.h>

#define LK_I8_MR 4

typedef void (*lk_i8_kernel)(float *C, int64_t ldc, const uint8_t *const *a, const float *const *ad,
                             const float *const *as, const int8_t *bp, const int32_t *bc, const float *bs,
                             const float *bb, int64_t ng, int G, int mr, int nr, int add);
/// x [n] → q u8 (xi + 128), d [n/G], s [n/G] (lk_int8_quantize_row_ref, q shifted by 128).
typedef void (*lk_i8_quant_fn)(uint8_t *q, float *d, float *s, const float *x, int64_t n, int G);

void lk_i8_kernel_ref(float *C, int64_t ldc, const uint8_t *const *a, const float *const *ad, const float *const *as,
                      const int8_t *bp, const int32_t *bc, const float *bs, const float *bb, int64_t ng, int G, int mr,
                      int nr, int add);
void lk_i8_quant_ref(uint8_t *q, float *d, float *s, const float *x, int64_t n, int G);
#if defined(__x86_64__)
void lk_i8_kernel_avx512(float *C, int64_t ldc, const uint8_t *const *a, const float *const *ad, const float *const *as,
                         const int8_t *bp, const int32_t *bc, const float *bs, const float *bb, int64_t ng, int G,
                         int mr, int nr, int add);
void lk_i8_kernel_avx2(float *C, int64_t ldc, const uint8_t *const *a, const float *const *ad, const float *const *as,
                       const int8_t *bp, const int32_t *bc, const float *bs, const float *bb, int64_t ng, int G, int mr,
                       int nr, int add);
void lk_i8_quant_avx512(uint8_t *q, float *d, float *s, const float *x, int64_t n, int G);
#endif
