// Run-time selection of kernel implementations from the active ISA (see cpu.c).
#include "lk_dot.h"

float lk_dot_f32_isa(lk_isa isa, const float *a, const float *b, size_t n) {
    if (!lk_isa_supported(isa)) return lk_dot_f32_ref(a, b, n);
    switch (isa) {
    case LK_ISA_AVX512: return lk_dot_f32_avx512(a, b, n);
    case LK_ISA_AVX2: return lk_dot_f32_avx2(a, b, n);
    case LK_ISA_NEON: return lk_dot_f32_neon(a, b, n);
    default: return lk_dot_f32_ref(a, b, n);
    }
}

float lk_dot_f32(const float *a, const float *b, size_t n) { return lk_dot_f32_isa(lk_active_isa(), a, b, n); }
