// int8 frozen-weight products: the left operand (X, or dY for backward-data) is quantized per group of G
// elements to int8 with an fp32 scale (symmetric, scale = max|x| / 127, like ggml's Q8_0/Q8_1 "vec_dot_type"),
// W's blocks are read as integers with their own scales, and each group's integer dot product is exact (int32);
// the groups' partial sums are scaled and summed in fp32.
//
// Weights as integers: in every supported type an element of group g (G elements along `in`) is
//   w = Sw_g · wi + Bw_g,   wi an integer in [-128, 127]
// (Q8_0: wi = q, Bw = 0; Q4_0: wi = q - 8; Q5_0: wi = q - 16; Q4_1 / Q5_1: wi = q, Bw = m; Q4_K / Q5_K: per
// sub-block of 32, Sw = d·sc, wi = q, Bw = -dmin·m; Q6_K: per sub-block of 16, Sw = d·sc, wi = q - 32).
// With the left operand x ≈ dx_g · xi (xi in [-127, 127]) a group contributes
//   dx_g · Sw_g · Σ xi·wi  +  (dx_g · Σ xi) · Bw_g.
// G is 32, except 16 for Q6_K (its sub-blocks). F32 / F16 / BF16 weights have no int8 path.
//
// Backward-data (dX = dY · W) sums over `out`, across W's blocks, whose scales change with the row: each thread
// dequantizes its W panel and requantizes it per 32 rows (along `out`) to int8 (symmetric, Bw = 0), so
// backward-data carries one extra weight rounding (relative 2^-8 of the group's largest |w|).
//
// Error of the forward product: the activation rounding only, |x - dx·xi| ≤ dx/2 ≤ max|x_g| / 254 per element.
// Threading as lk_qmatmul_fwd (lk_matmul.h): each thread owns output columns; results are bitwise identical for
// any thread count (every output element's sum runs in the same order).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "lk_cpu.h"
#include "lk_pool.h"
#include "lk_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs the int8 products with a fast kernel (AVX512-VNNI or AVX2); otherwise they run the scalar
/// kernel, correct but slow.
int lk_int8_matmul_native(void);
/// Implementation the int8 products use for an ISA level on this CPU: "avx512-vnni", "avx2" or "scalar".
const char *lk_int8_kernel_name(lk_isa isa);

/// 1 when `t` has an int8 path (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K); 0 for anything else (callers
/// use the bf16 or fp32 products for it).
int lk_int8_type_supported(lk_type t);
/// Elements per quantization group of the forward product for `t` (16 for Q6_K, 32 otherwise; 0 unsupported).
int lk_int8_group(lk_type t);

/// Scratch bytes the int8 products need on a pool of `threads` threads, for at most T rows of the left operand and
/// a summed dimension of at most k_max (forward: in; backward: out): the quantized left operand and each thread's
/// W panel. Plan it once and pass it to every product (any alignment); 0 for T or k_max ≤ 0.
size_t lk_int8_scratch_bytes(int threads, int64_t T, int64_t k_max);

/// Forward in int8: Y = X · Wᵀ (accumulate != 0: Y += X · Wᵀ). Y: [T, out] (ldy); X: [T, in] (ldx);
/// W: [out, in] of a supported type, `in` a multiple of the block size (else nothing is written).
/// scratch: lk_int8_scratch_bytes(lk_pool_size(p), T, in) bytes, or NULL (allocated for the call; nothing is
/// written if that allocation fails).
void lk_qmatmul_fwd_int8(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                         const void *W, int64_t out, int64_t in, int64_t T, int accumulate);
/// Backward to the input in int8: dX = dY · W (accumulate != 0: dX += dY · W). dX: [T, in] (lddx);
/// dY: [T, out] (lddy); `out` a multiple of 32. scratch: lk_int8_scratch_bytes(lk_pool_size(p), T, out) or NULL.
void lk_qmatmul_bwd_data_int8(lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                              lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate);
/// The same with a chosen microkernel (LK_ISA_AVX512 needs AVX512-VNNI, LK_ISA_AVX2 AVX2; anything else, or a
/// CPU without it: scalar). scratch may be NULL.
void lk_qmatmul_fwd_int8_isa(lk_isa isa, lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X,
                             int64_t ldx, lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate);
void lk_qmatmul_bwd_data_int8_isa(lk_isa isa, lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY,
                                  int64_t lddy, lk_type t, const void *W, int64_t out, int64_t in, int64_t T,
                                  int accumulate);

/// Quantizes x [n] (n a multiple of G) per group of G: d[g] = max|x_g| / 127, xi = round-to-nearest-even(x / d)
/// (0 when d is 0), q[i] = xi, s[g] = d[g] · Σ xi (the dequantized group's sum, for the Bw terms).
void lk_int8_quantize_row_ref(int8_t *q, float *d, float *s, const float *x, int64_t n, int G);

/// The spec of one product element: Σ_g dx_g·Sw_g·Σ xi·wi + s_g·Bw_g over the n elements (a multiple of the
/// block size) of one W row `w` (type t) and one quantized left row (q, d, s from lk_int8_quantize_row_ref with
/// G = lk_int8_group(t)); integer sums exact, fp64 accumulation. Returns 0 for an unsupported type.
double lk_int8_dot_ref(lk_type t, const void *w, const int8_t *q, const float *d, const float *s, int64_t n);

/// A W row as integers: wi [n], Sw [n / G], Bw [n / G] (G = lk_int8_group(t)); returns -1 for an unsupported type.
int lk_int8_unpack_row(lk_type t, int8_t *wi, float *sw, float *bw, const void *w, int64_t n);

#ifdef __cplusplus
}
#endif
