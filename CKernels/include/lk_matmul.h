// Frozen-weight matrix products of a training step, and a pool-threaded fp32 GEMM.
// W is a quantized [out, in] matrix (rows contiguous, blocks along `in`, row bytes =
// in / block_size * block_bytes) of any type in the traits table (lk_type_traits_get): F32, F16, BF16,
// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K. Panels along `in` start on block boundaries (256 for K-quants).
// Each pool thread dequantizes panels of W (sized to stay in its L2 cache) into its part of the scratch
// and multiplies them with single-threaded OpenBLAS sgemm. Every output element is written by exactly one
// thread; results are bitwise identical for the same thread count and equal up to fp rounding otherwise.
// Sizes beyond INT32_MAX per dimension are not supported (BLAS integer); `in` must be a multiple of the
// block size (otherwise the call does nothing).
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "lk_pool.h"
#include "lk_quant.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Scratch bytes lk_qmatmul_fwd / lk_qmatmul_bwd_data need for this pool (NULL: one thread), type and
/// shape. Allocate once and reuse; 0 for F32 (W is used in place).
size_t lk_qmatmul_scratch_bytes(const lk_pool *p, lk_type t, int64_t out, int64_t in);

/// Forward: Y = X · Wᵀ (accumulate != 0: Y += X · Wᵀ).
/// Y: [T, out] with row stride ldy; X: [T, in] with row stride ldx; W: [out, in] quantized.
/// scratch: lk_qmatmul_scratch_bytes(p, t, out, in) bytes, any alignment (NULL: allocated for the call;
/// if that allocation fails nothing is written).
void lk_qmatmul_fwd(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                    const void *W, int64_t out, int64_t in, int64_t T, int accumulate);

/// Backward to the input: dX = dY · W (accumulate != 0: dX += dY · W).
/// dX: [T, in] with row stride lddx; dY: [T, out] with row stride lddy; W: [out, in] quantized.
/// scratch: as for lk_qmatmul_fwd.
void lk_qmatmul_bwd_data(lk_pool *p, void *scratch, float *dX, int64_t lddx, const float *dY, int64_t lddy,
                         lk_type t, const void *W, int64_t out, int64_t in, int64_t T, int accumulate);

/// Row groups (NUMA nodes): the pool's threads form `groups` contiguous groups, group g being threads
/// [group_first[g], group_first[g+1]) (group_first: [groups + 1], 0 first, the pool size last, strictly
/// increasing; anything else counts as one group). Group g owns W's rows [out·group_first[g]/n,
/// out·group_first[g+1]/n) (n: pool size), the part NUMAPlacement puts on its node, and only its threads
/// read them. With one group the results are bitwise those of lk_qmatmul_fwd / lk_qmatmul_bwd_data. The
/// grouping, not where threads run, decides the arithmetic: same groups, same bits.
///
/// Forward: Y = X · Wᵀ (accumulate != 0: Y += X · Wᵀ); each group computes the output columns of its rows.
/// Shapes and scratch as lk_qmatmul_fwd.
void lk_qmatmul_fwd_grouped(lk_pool *p, void *scratch, float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t,
                            const void *W, int64_t out, int64_t in, int64_t T, int accumulate, const int *group_first,
                            int groups);

/// Floats of the partial sums lk_qmatmul_bwd_data_grouped needs: (groups - 1) · T · in (0 for one group).
size_t lk_qmatmul_partial_floats(int groups, int64_t T, int64_t in);

/// Backward to the input: dX = dY · W (accumulate != 0: dX += dY · W). Group 0 sums over its rows of W
/// into dX, group g > 0 into partials[g - 1] ([groups - 1, T, in], row stride in); then dX += partials[0],
/// += partials[1], … in that order. partials: lk_qmatmul_partial_floats floats (NULL: allocated for the
/// call; if that fails nothing is written). Shapes and scratch as lk_qmatmul_bwd_data.
void lk_qmatmul_bwd_data_grouped(lk_pool *p, void *scratch, float *partials, float *dX, int64_t lddx, const float *dY,
                                 int64_t lddy, lk_type t, const void *W, int64_t out, int64_t in, int64_t T,
                                 int accumulate, const int *group_first, int groups);

/// Row-major fp32 GEMM split over the pool: C = alpha · op(A) · op(B) + beta · C, op(A): [M, K],
/// op(B): [K, N], C: [M, N]. transA != 0: A is stored [K, M] (else [M, K]); transB != 0: B is stored
/// [N, K] (else [K, N]). beta == 0 ignores the old contents of C.
void lk_sgemm(lk_pool *p, int transA, int transB, int64_t M, int64_t N, int64_t K, float alpha, const float *A,
              int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/// Scalar references (fp64 accumulation over the reference-dequantized W), single-threaded, for tests.
/// Y: [T, out] (ldy); X: [T, in] (ldx).
void lk_qmatmul_fwd_ref(float *Y, int64_t ldy, const float *X, int64_t ldx, lk_type t, const void *W, int64_t out,
                        int64_t in, int64_t T);
/// dX: [T, in] (lddx); dY: [T, out] (lddy).
void lk_qmatmul_bwd_data_ref(float *dX, int64_t lddx, const float *dY, int64_t lddy, lk_type t, const void *W,
                             int64_t out, int64_t in, int64_t T);

#ifdef __cplusplus
}
#endif
