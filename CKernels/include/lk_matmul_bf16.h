// Reduced-precision frozen-weight products: X (or dY) and the dequantized W rounded to bf16
// (round to nearest even), products summed in fp32 — AVX512-BF16 `vdpbf16ps` on packed bf16 tiles,
// a scalar microkernel with the same arithmetic elsewhere. Same shapes and threading contract as
// lk_qmatmul_fwd / lk_qmatmul_bwd_data (lk_matmul.h); scratch is allocated per call.
// Error: each product term carries the two bf16 roundings (relative 2^-9 each), so |Y - Y_fp32| is
// about 2^-8 · sqrt(in) · rms(x·w) for random data; results are bitwise identical for the same thread count.
#pragma once
#include <stdint.h>
#include "lk_cpu.h"
#include "lk_pool.h"
#include "lk_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when this CPU runs the bf16 products with AVX512-BF16 (otherwise they run the slow scalar microkernel).
int lk_bf16_matmul_native(void);

/// Scratch bytes the bf16 products below need on a pool of `threads` threads (lk_pool_size), for at most T rows
/// of the left operand and a summed dimension of at most k_max (forward: in; backward: out): the left operand
/// as bf16 pairs and each thread's W panel. Plan it once and pass it to every product (any alignment); 0 for
/// T or k_max ≤ 0.
size_t lk_bf16_scratch_bytes(int threads, int64_t T, int64_t k_max);

/// Forward in bf16: Y = X · Wᵀ (accumulate != 0: Y += X · Wᵀ). Y: [T, out] (ldy); X: [T, in] (ldx);
/// W: [out, in] quantized, `in` a multiple of the block size. scratch: lk_bf16_scratch_bytes(lk_pool_size(p), T, in) bytes,
/// or NULL (allocated for the call; nothing is written if that allocation fails).
void lk_qmatmul_fwd_bf16(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                         const void *W, int64_t out, int64_t in, int64_t T, int accumulate);

/// Backward to the input in bf16: dX = dY · W (accumulate != 0: dX += dY · W).
/// dX: [T, in] (lddx); dY: [T, out] (lddy); W: [out, in] quantized. scratch: lk_bf16_scratch_bytes(lk_pool_size(p), T, out) or NULL.
void lk_qmatmul_bwd_data_bf16(lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                              lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate);

/// The same products with a chosen microkernel (LK_ISA_AVX512 needs AVX512-BF16; anything else: scalar).
void lk_qmatmul_fwd_bf16_isa(lk_isa isa, lk_pool *p, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                             const void *W, int64_t out, int64_t in, int64_t T, int accumulate);
void lk_qmatmul_bwd_data_bf16_isa(lk_isa isa, lk_pool *p, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                                  lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate);

/// W packed once for the products below (a frozen matrix multiplied many times, e.g. the LM head chunk by chunk):
/// forward layout [ceil(out/32)][ceil(in/2)][32] pairs, backward (bwd != 0) [ceil(in/32)][ceil(out/2)][32].
/// The packed products give bitwise the results of lk_qmatmul_*_bf16 on the same W (same implementation).
int64_t lk_bf16_packed_bytes(int64_t out, int64_t in, int bwd);
/// Packs W [out, in] (quantized, `in` a multiple of the block size) into `packed` (lk_bf16_packed_bytes, 4-byte
/// aligned). Returns 0, or -1 on a bad type/shape or when scratch allocation fails.
int lk_bf16_pack_weights(lk_pool *p, uint32_t *packed, lk_type t, const void *W, int64_t out, int64_t in, int bwd);
/// Y (+)= X · Wᵀ with W packed (bwd = 0). Y: [T, out] (ldy); X: [T, in] (ldx).
/// scratch: lk_bf16_scratch_bytes(lk_pool_size(p), T, in) bytes or NULL.
void lk_matmul_fwd_bf16_packed(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx,
                               const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate);
/// dX (+)= dY · W with W packed (bwd = 1). dX: [T, in] (lddx); dY: [T, out] (lddy).
/// scratch: lk_bf16_scratch_bytes(lk_pool_size(p), T, out) bytes or NULL.
void lk_matmul_bwd_data_bf16_packed(lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                                    const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate);
/// The same with a chosen implementation (pack and products must use the same one).
int lk_bf16_pack_weights_isa(lk_isa isa, lk_pool *p, uint32_t *packed, lk_type t, const void *W, int64_t out,
                             int64_t in, int bwd);
void lk_matmul_fwd_bf16_packed_isa(lk_isa isa, lk_pool *p, float *Y, int64_t ldy, const float *X, int64_t ldx,
                                   const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate);
void lk_matmul_bwd_data_bf16_packed_isa(lk_isa isa, lk_pool *p, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                                        const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate);

/// Packing steps of the products (for tests; the products call them internally). A pair is one uint32: the bf16
/// of the even element in the low half, of the odd element in the high half. LK_ISA_AVX512 (vcvtne2ps2bf16, needs
/// AVX512-BF16) gives the scalar bits except that fp32 denormal inputs become ±0; anything else runs the scalar code.
/// x [n] → a [(n+1)/2] pairs (the odd element past n is 0).
void lk_bf16_pairs_isa(lk_isa isa, uint32_t *a, const float *x, int64_t n);
/// w [nb, kc] (ldw) → bp [ceil(nb/32)][(kc+1)/2][32]: pair p of column j of strip s = w[32s+j, 2p..2p+1]
/// (columns past nb and the element past kc are 0).
void lk_bf16_pack_rows_isa(lk_isa isa, uint32_t *bp, const float *w, int64_t ldw, int64_t nb, int64_t kc);
/// w [kc, nb] (ldw) → the same layout: pair p of column j of strip s = w[2p..2p+1, 32s+j].
void lk_bf16_pack_cols_isa(lk_isa isa, uint32_t *bp, const float *w, int64_t ldw, int64_t kc, int64_t nb);

/// fp32 → bf16, round to nearest even (NaN stays NaN).
uint16_t lk_f32_to_bf16(float x);

/// Scalar reference: X and the reference-dequantized W rounded to bf16, fp64 sums. Y: [T, out] (ldy).
void lk_qmatmul_fwd_bf16_ref(float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t, const void *W,
                             int64_t out, int64_t in, int64_t T);

#ifdef __cplusplus
}
#endif
