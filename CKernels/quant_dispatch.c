// Run-time selection of the dequantization kernels from the active ISA (see cpu.c).
#include "lk_quant.h"

void lk_dequantize_row_isa(lk_isa isa, lk_type t, float *y, const void *x, int64_t n) {
    if (!lk_isa_supported(isa)) { lk_dequantize_row_ref(t, y, x, n); return; }
    switch (isa) {
    case LK_ISA_AVX512: lk_dequantize_row_avx512(t, y, x, n); return;
    case LK_ISA_AVX2: lk_dequantize_row_avx2(t, y, x, n); return;
    case LK_ISA_NEON: lk_dequantize_row_neon(t, y, x, n); return;
    default: lk_dequantize_row_ref(t, y, x, n); return;
    }
}

void lk_dequantize_row(lk_type t, float *y, const void *x, int64_t n) {
    lk_dequantize_row_isa(lk_active_isa(), t, y, x, n);
}
