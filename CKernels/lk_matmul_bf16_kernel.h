// Internal: the 8 x 32 bf16 microkernel of matmul_bf16.c and its packing steps.
// C[r, j] (+)= Σ_p a[r][p]·bp[p][j] over bf16 pairs (fp32 sums), r < mr, j < nr; a[r]: [kp] pairs;
// bp: [kp][32] pairs; add != 0 adds to C, else overwrites.
// A pair is one uint32: the bf16 of the even element in the low half, of the odd element in the high half.
// Packing (the public forms and layouts are in lk_matmul_bf16.h):
//   pairs:     x [n] floats → a [(n+1)/2] pairs (a zero high half at an odd end);
//   pack_rows: w [nb][kc] (ldw) → bp [ceil(nb/32)][(kc+1)/2][32], pair p of strip s column j = w[32s+j][2p, 2p+1];
//   pack_cols: w [kc][nb] (ldw) → the same layout, pair p of column j = w[2p, 2p+1][32s+j];
//   columns past nb and the odd element past kc are zero.
#pragma once
#include <stdint.h>

typedef void (*lk_bf16_kernel)(float *C, int64_t ldc, const uint32_t *const *a, const uint32_t *bp, int64_t kp,
                               int mr, int nr, int add);
typedef void (*lk_bf16_pairs_fn)(uint32_t *a, const float *x, int64_t n);
typedef void (*lk_bf16_pack_fn)(uint32_t *bp, const float *w, int64_t ldw, int64_t d0, int64_t d1);

#include "lk_cpu.h"
#include "lk_pool.h"

/// The microkernel and packing steps of one implementation.
typedef struct lk_bf16_impl {
    lk_bf16_kernel kernel;
    lk_bf16_pairs_fn pairs;
    lk_bf16_pack_fn pack_rows, pack_cols;
} lk_bf16_impl;
/// AVX512-BF16 for LK_ISA_AVX512 on a CPU that has it, else scalar.
lk_bf16_impl lk_bf16_impl_for(lk_isa isa);
/// The products on W packed by lk_bf16_pack_weights_isa (bwd: dX = dY·W, else Y = X·Wᵀ).
/// scratch: lk_bf16_scratch_bytes bytes, or NULL (allocated for the call).
void lk_bf16_product_packed(lk_isa isa, lk_pool *p, void *scratch, int bwd, float *Y, int64_t ldy, const float *X,
                            int64_t ldx, const uint32_t *packed, int64_t out, int64_t in, int64_t T, int accumulate);

void lk_bf16_kernel_ref(float *C, int64_t ldc, const uint32_t *const *a, const uint32_t *bp, int64_t kp, int mr,
                        int nr, int add);
void lk_bf16_pairs_ref(uint32_t *a, const float *x, int64_t n);
void lk_bf16_pack_rows_ref(uint32_t *bp, const float *w, int64_t ldw, int64_t nb, int64_t kc);
void lk_bf16_pack_cols_ref(uint32_t *bp, const float *w, int64_t ldw, int64_t kc, int64_t nb);
#if defined(__x86_64__)
void lk_bf16_kernel_avx512(float *C, int64_t ldc, const uint32_t *const *a, const uint32_t *bp, int64_t kp, int mr,
                           int nr, int add);
void lk_bf16_pairs_avx512(uint32_t *a, const float *x, int64_t n);
void lk_bf16_pack_rows_avx512(uint32_t *bp, const float *w, int64_t ldw, int64_t nb, int64_t kc);
void lk_bf16_pack_cols_avx512(uint32_t *bp, const float *w, int64_t ldw, int64_t kc, int64_t nb);
#endif
