// Internal: the int8 microkernel of matmul_int8.c (see lk_matmul_int8.h for the arithmetic).
// C[r, j] (+)= Σ_g fma-chain over ng groups of G elements (G a multiple of 32), r < mr ≤ LK_I8_MR, j < nr ≤ 32:
//   isum = Σ_i bp[g, i, j] · a[r][gG + i]              (weights s8, activations s8: exact int32)
//   f    = fma((float)isum, bs[g][j] · ad[r][g], f)
// C = f (add == 0) or C + f. Strip layout: bp s8 [ng·G/4][32][4] (4 consecutive k of column j at (k/4·32 + j)·4),
// bs float [ng][32], bc int32 [ng][32] = 128·Σ_i bp[g, i, j] (for kernels whose activations are stored biased as
// u8 = a + 128: Σ (a + 128)·w − bc is the same isum). Every implementation does exactly these float operations on
// the same integers: all give the same bits.
#pragma once
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "lk_quant.h"

#define LK_I8_MR 8  // most rows per kernel call (each implementation has its own, ≤ this)

/// Round to nearest even for |v| < 2^22 (v + 1.5·2^23 lands on an integer ulp; no libm call, no FMA).
static inline int lk_i8_round_even(float v) {
    const float f = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/// The smoothing multiplier of a channel whose largest |x| is m: √m, 1 when m is 0 or not finite
/// (lk_int8_smoothing_ref).
static inline float lk_i8_smoothing(float m) { return m > 0 && m <= FLT_MAX ? sqrtf(m) : 1.0f; }

/// a: each row's activations as stored by the implementation's quantizer (s8, or u8 = s8 + 128 when its `flip`
/// is 0x80).
typedef void (*lk_i8_kernel)(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const int8_t *bp,
                             const float *bs, const int32_t *bc, int64_t ng, int G, int mr, int nr, int add);
/// x [n] (times mul [n] elementwise when mul != NULL) → q [n] (xor flip), d [⌈n/G⌉] (lk_int8_quantize_row_ref; the
/// last group may be shorter, a multiple of 16), and when sum != NULL sum[g] = 128·Σ q (before the flip).
typedef void (*lk_i8_quant_fn)(int8_t *q, float *d, int32_t *sum, const float *x, const float *mul, int64_t n, int G,
                               int flip);
/// Backward-data packing of one group of `len` rows (a multiple of 4) × 32 columns of a dequantized panel
/// (src[k·ld + j]): each column quantized as lk_int8_quantize_row_ref does (one group), written in the strip layout
/// (bp[(k/4·32 + j)·4 + k%4]), bs[j] = its scale, bc[j] = 128·Σ of its integers.
typedef void (*lk_i8_pack_fn)(int8_t *bp, float *bs, int32_t *bc, const float *src, int64_t ld, int64_t len);

/// m[c] = max over the T rows of |x_tc| (fmaxf's NaN rule), c < n.
typedef void (*lk_i8_absmax_fn)(float *m, const float *x, int64_t ldx, int64_t T, int64_t n);

void lk_i8_absmax_ref(float *m, const float *x, int64_t ldx, int64_t T, int64_t n);
void lk_i8_kernel_ref(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const int8_t *bp,
                      const float *bs, const int32_t *bc, int64_t ng, int G, int mr, int nr, int add);
void lk_i8_quant_ref(int8_t *q, float *d, int32_t *sum, const float *x, const float *mul, int64_t n, int G,
                        int flip);
void lk_i8_pack_ref(int8_t *bp, float *bs, int32_t *bc, const float *src, int64_t ld, int64_t len);
#if defined(__x86_64__)
void lk_i8_kernel_avx512(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const int8_t *bp,
                         const float *bs, const int32_t *bc, int64_t ng, int G, int mr, int nr, int add);
void lk_i8_kernel_avx2(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const int8_t *bp,
                       const float *bs, const int32_t *bc, int64_t ng, int G, int mr, int nr, int add);
void lk_i8_quant_avx512(int8_t *q, float *d, int32_t *sum, const float *x, const float *mul, int64_t n, int G,
                        int flip);
void lk_i8_absmax_avx512(float *m, const float *x, int64_t ldx, int64_t T, int64_t n);
void lk_i8_pack_avx512(int8_t *bp, float *bs, int32_t *bc, const float *src, int64_t ld, int64_t len);
#endif
#if defined(__aarch64__)
// The kernel needs LK_CPU_NEON_DOTPROD; the quantizer and packing plain NEON.
void lk_i8_kernel_neon(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad, const int8_t *bp,
                       const float *bs, const int32_t *bc, int64_t ng, int G, int mr, int nr, int add);
void lk_i8_quant_neon(int8_t *q, float *d, int32_t *sum, const float *x, const float *mul, int64_t n, int G,
                        int flip);
void lk_i8_pack_neon(int8_t *bp, float *bs, int32_t *bc, const float *src, int64_t ld, int64_t len);
#endif
