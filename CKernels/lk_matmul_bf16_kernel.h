// Internal: the 8 x 32 bf16 microkernel of matmul_bf16.c.
// C[r, j] (+)= Σ_p a[r][p]·bp[p][j] over bf16 pairs (fp32 sums), r < mr, j < nr; a[r]: [kp] pairs;
// bp: [kp][32] pairs; add != 0 adds to C, else overwrites.
#pragma once
#include <stdint.h>

typedef void (*lk_bf16_kernel)(float *C, int64_t ldc, const uint32_t *const *a, const uint32_t *bp, int64_t kp,
                               int mr, int nr, int add);
void lk_bf16_kernel_ref(float *C, int64_t ldc, const uint32_t *const *a, const uint32_t *bp, int64_t kp, int mr,
                        int nr, int add);
#if defined(__x86_64__)
void lk_bf16_kernel_avx512(float *C, int64_t ldc, const uint32_t *const *a, const uint32_t *bp, int64_t kp, int mr,
                           int nr, int add);
#endif
