// The type-traits table: block geometry, name, bits per weight and the row kernels of every type, and the
// run-time choice of a dequantization kernel from it (see cpu.c for the ISA).
#include "quant_internal.h"

#if defined(__x86_64__)
#define LK_X86(f) f
#else
#define LK_X86(f) NULL
#endif
#if defined(__aarch64__)
#define LK_ARM(f) f
#else
#define LK_ARM(f) NULL
#endif

// dequantize[] is indexed by lk_isa: scalar, neon, avx2, avx512.
#define LK_BLOCK_TYPE(T, NAME, BS, BB, id)                                                                      \
    {T, NAME, BS, BB, 8.0 * (BB) / (BS),                                                                      \
     {lk_dq_##id##_ref, LK_ARM(lk_dq_##id##_neon), LK_X86(lk_dq_##id##_avx2), LK_X86(lk_dq_##id##_avx512)},     \
     lk_q_##id##_ref}

static const lk_type_traits table[] = {
    {LK_F32, "F32", 1, 4, 32.0, {lk_dq_f32_ref, NULL, NULL, NULL}, lk_q_f32_ref},
    LK_BLOCK_TYPE(LK_F16, "F16", 1, 2, f16),
    LK_BLOCK_TYPE(LK_BF16, "BF16", 1, 2, bf16),
    LK_BLOCK_TYPE(LK_Q8_0, "Q8_0", 32, sizeof(lk_block_q8_0), q8_0),
    LK_BLOCK_TYPE(LK_Q4_0, "Q4_0", 32, sizeof(lk_block_q4_0), q4_0),
    LK_BLOCK_TYPE(LK_Q4_1, "Q4_1", 32, sizeof(lk_block_q4_1), q4_1),
    LK_BLOCK_TYPE(LK_Q5_0, "Q5_0", 32, sizeof(lk_block_q5_0), q5_0),
    LK_BLOCK_TYPE(LK_Q5_1, "Q5_1", 32, sizeof(lk_block_q5_1), q5_1),
    LK_BLOCK_TYPE(LK_Q4_K, "Q4_K", 256, sizeof(lk_block_q4_K), q4_K),
    LK_BLOCK_TYPE(LK_Q5_K, "Q5_K", 256, sizeof(lk_block_q5_K), q5_K),
    LK_BLOCK_TYPE(LK_Q6_K, "Q6_K", 256, sizeof(lk_block_q6_K), q6_K),
};

const lk_type_traits *lk_type_traits_get(lk_type t) {
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (table[i].type == t) return &table[i];
    return NULL;
}

int64_t lk_type_block_size(lk_type t) {
    const lk_type_traits *tt = lk_type_traits_get(t);
    return tt ? tt->block_size : 0;
}

int64_t lk_type_block_bytes(lk_type t) {
    const lk_type_traits *tt = lk_type_traits_get(t);
    return tt ? tt->block_bytes : 0;
}

// Runs the kernel of `isa` (the reference when the type has none) on whole blocks.
static void dequantize_with(int isa, lk_type t, float *y, const void *x, int64_t n) {
    const lk_type_traits *tt = lk_type_traits_get(t);
    if (!tt || n <= 0) return;
    n -= n % tt->block_size;
    lk_dequantize_row_fn f = tt->dequantize[isa] ? tt->dequantize[isa] : tt->dequantize[LK_ISA_SCALAR];
    if (n > 0) f(y, x, n);
}

void lk_dequantize_row_ref(lk_type t, float *y, const void *x, int64_t n) { dequantize_with(LK_ISA_SCALAR, t, y, x, n); }
void lk_dequantize_row_avx2(lk_type t, float *y, const void *x, int64_t n) { dequantize_with(LK_ISA_AVX2, t, y, x, n); }
void lk_dequantize_row_avx512(lk_type t, float *y, const void *x, int64_t n) { dequantize_with(LK_ISA_AVX512, t, y, x, n); }
void lk_dequantize_row_neon(lk_type t, float *y, const void *x, int64_t n) { dequantize_with(LK_ISA_NEON, t, y, x, n); }

void lk_dequantize_row_isa(lk_isa isa, lk_type t, float *y, const void *x, int64_t n) {
    dequantize_with(lk_isa_supported(isa) ? (int)isa : LK_ISA_SCALAR, t, y, x, n);
}

void lk_dequantize_row(lk_type t, float *y, const void *x, int64_t n) {
    lk_dequantize_row_isa(lk_active_isa(), t, y, x, n);
}

int lk_quantize_row(lk_type t, void *y, const float *x, int64_t n) {
    const lk_type_traits *tt = lk_type_traits_get(t);
    if (!tt || !tt->quantize) return -1;
    if (n < 0 || n % tt->block_size != 0) return -2;
    if (n > 0) tt->quantize(y, x, n);
    return 0;
}
