// fp32 dot product: the first kernel pair (scalar reference + SIMD paths).
#pragma once
#include <stddef.h>
#include "lk_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

// Reference: sum_i a[i]*b[i], accumulated in double. a, b: [n]
float lk_dot_f32_ref(const float *a, const float *b, size_t n);
// SIMD versions, same signature; call only when lk_isa_supported() says so.
float lk_dot_f32_avx2(const float *a, const float *b, size_t n);
float lk_dot_f32_avx512(const float *a, const float *b, size_t n);
float lk_dot_f32_neon(const float *a, const float *b, size_t n);
/// Implementation for an ISA level (falls back to the reference when not built for it).
float lk_dot_f32_isa(lk_isa isa, const float *a, const float *b, size_t n);
/// Dispatched: picks the active ISA.
float lk_dot_f32(const float *a, const float *b, size_t n);

#ifdef __cplusplus
}
#endif
