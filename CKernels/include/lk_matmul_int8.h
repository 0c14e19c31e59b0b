// int8 frozen-weight products: both operands of the frozen products are quantized per group of LK_INT8_GROUP
// (256) elements along the summed dimension (the last group shorter, a multiple of 32) to int8 with an fp32 scale
// (symmetric, scale = max|v| / 127, round to nearest even, like ggml's Q8_K activations), each group's integer dot
// product is exact (int32), and the groups' partial sums are scaled and summed in fp32:
//   y = Σ_g dx_g · Sw_g · Σ_{k in g} xi_k · wi_k
// Before that, outlier channels are smoothed (SmoothQuant's migration, computed per product): with m_c the largest
// |x| of summed channel c over the product's T rows, s_c = √m_c (1 when m_c is 0 or not finite), the left operand
// is quantized as x_tc·(1/s_c) and W's channel c as w·s_c — the same product, but one channel with 100× the
// others no longer flattens its whole group of 256 (lk_int8_smoothing_ref).
// The left operand (X, or dY for backward-data) is quantized once per product. W is read from its blocks a panel
// at a time (each thread's KC × NB panel), dequantized exactly and requantized per group: forward along `in`,
// backward-data along `out` (so no transposed copy of W is ever stored). One scale per 256 (not per 32) keeps the
// scaling out of the inner loop: the products run at int8 speed. The price is one extra rounding of each weight,
// |w − Sw·wi| ≤ max|w_g| / 254 (about 1/8 of a 4-bit block's own step), on top of the activation rounding,
// |x − dx·xi| ≤ max|x_g| / 254.
// Threading as lk_qmatmul_fwd (lk_matmul.h): each thread owns output columns; results are bitwise identical for
// any thread count and ISA (every output element's sum runs in the same order on the same integers).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "lk_cpu.h"
#include "lk_pool.h"
#include "lk_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs the int8 products with a fast kernel (AVX512-VNNI, AVX2 or NEON with the dot-product
/// extension); otherwise they run the scalar kernel, correct but slow.
int lk_int8_matmul_native(void);
/// Implementation the int8 products use for an ISA level on this CPU: "avx512-vnni", "avx2", "neon-dotprod" or
/// "scalar".
const char *lk_int8_kernel_name(lk_isa isa);

/// Elements per quantization group along the summed dimension.
#define LK_INT8_GROUP 256

/// 1 when `t` has an int8 path (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K); 0 for anything else (callers
/// use the bf16 or fp32 products for it).
int lk_int8_type_supported(lk_type t);

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
/// The same with a chosen microkernel (LK_ISA_AVX512 needs AVX512-VNNI, LK_ISA_AVX2 AVX2, LK_ISA_NEON the
/// dot-product extension; anything else, or a CPU without it: scalar). scratch may be NULL.
void lk_qmatmul_fwd_int8_isa(lk_isa isa, lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X,
                             int64_t ldx, lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate);
void lk_qmatmul_bwd_data_int8_isa(lk_isa isa, lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY,
                                  int64_t lddy, lk_type t, const void *W, int64_t out, int64_t in, int64_t T,
                                  int accumulate);

/// Quantizes x [n] per group of G (the last group shorter when G does not divide n): d[g] = max|x_g| / 127,
/// q = round-to-nearest-even(x / d) in [-127, 127] (0 when d is 0).
void lk_int8_quantize_row_ref(int8_t *q, float *d, const float *x, int64_t n, int G);

/// The smoothing multipliers of a left operand x [T, n] (row stride ldx): s[c] = √(max_t |x_tc|), 1 when that
/// is 0 or not finite.
void lk_int8_smoothing_ref(float *s, const float *x, int64_t ldx, int64_t T, int64_t n);

/// The spec of one forward product element: the W row `w` (type t, n elements, a multiple of the block size)
/// dequantized (lk_dequantize_row_ref), multiplied by s (lk_int8_smoothing_ref of X; NULL: none) and quantized per
/// LK_INT8_GROUP, dotted with one quantized left row (q, d from lk_int8_quantize_row_ref of x·(1/s) with
/// G = LK_INT8_GROUP): Σ_g d_g·Sw_g·Σ xi·wi, integer sums exact, fp64 accumulation. Returns 0 for an unsupported
/// type.
double lk_int8_dot_ref(lk_type t, const void *w, const float *s, const int8_t *q, const float *d, int64_t n);

#ifdef __cplusplus
}
#endif
