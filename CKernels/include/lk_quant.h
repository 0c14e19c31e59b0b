// GGML block formats: scalar reference (the spec), SIMD dequantization, quantization of fp32 rows.
// Dequantization follows ggml / gguf-py exactly (same operation order, no fused multiply-add), so the
// results are bit-identical to gguf-py's `dequantize`.
#pragma once
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include "lk_cpu.h"

#ifdef __cplusplus
extern "C" {
#endif

/// Tensor element types, numbered as in GGUF (ggml's ggml_type).
typedef enum lk_type {
    LK_F32 = 0,
    LK_F16 = 1,
    LK_Q4_0 = 2,
    LK_Q4_1 = 3,
    LK_Q5_0 = 6,
    LK_Q5_1 = 7,
    LK_Q8_0 = 8,
    LK_Q4_K = 12,
    LK_Q5_K = 13,
    LK_Q6_K = 14,
    LK_BF16 = 30,
} lk_type;

/// Q8_0: 32 elements, y[j] = d * qs[j].
typedef struct lk_block_q8_0 {
    uint16_t d;      // fp16 scale
    int8_t qs[32];
} lk_block_q8_0;
static_assert(sizeof(lk_block_q8_0) == 34, "Q8_0 block is 34 bytes");

/// Q4_0: 32 elements; element j is the low nibble of qs[j], element j+16 the high nibble; y = (q - 8) * d.
typedef struct lk_block_q4_0 {
    uint16_t d;      // fp16 scale
    uint8_t qs[16];
} lk_block_q4_0;
static_assert(sizeof(lk_block_q4_0) == 18, "Q4_0 block is 18 bytes");

/// Q4_1: 32 elements, nibble order as Q4_0; y = q * d + m.
typedef struct lk_block_q4_1 {
    uint16_t d;      // fp16 scale
    uint16_t m;      // fp16 minimum
    uint8_t qs[16];
} lk_block_q4_1;
static_assert(sizeof(lk_block_q4_1) == 20, "Q4_1 block is 20 bytes");

/// Q5_0: 32 elements; 5-bit q = low nibble of qs[j] (element j) or high nibble (element j+16), plus 16 when bit
/// j (resp. j+16) of the little-endian u32 qh is set; y = (q - 16) * d.
typedef struct lk_block_q5_0 {
    uint16_t d;      // fp16 scale
    uint8_t qh[4];   // u32 (little-endian) of the 5th bits, bit j for element j; bytes so the block stays packed
    uint8_t qs[16];  // low 4 bits, nibble order as Q4_0
} lk_block_q5_0;
static_assert(sizeof(lk_block_q5_0) == 22, "Q5_0 block is 22 bytes");

/// Q5_1: 32 elements, quants as Q5_0; y = q * d + m.
typedef struct lk_block_q5_1 {
    uint16_t d;      // fp16 scale
    uint16_t m;      // fp16 minimum
    uint8_t qh[4];   // 5th bits as Q5_0
    uint8_t qs[16];
} lk_block_q5_1;
static_assert(sizeof(lk_block_q5_1) == 24, "Q5_1 block is 24 bytes");

/// Q4_K: 256 elements in 8 sub-blocks of 32 with 6-bit scales and mins (packed in `scales`).
/// Sub-block s (scale sc_s, min m_s): y = (d * sc_s) * q - (dmin * m_s). Quants of sub-blocks 2k and 2k+1
/// are the low and high nibbles of qs[32k .. 32k+31].
typedef struct lk_block_q4_K {
    uint16_t d;          // fp16 super-block scale of the scales
    uint16_t dmin;       // fp16 super-block scale of the mins
    uint8_t scales[12];  // 8 scales and 8 mins, 6 bits each
    uint8_t qs[128];     // 4-bit quants
} lk_block_q4_K;
static_assert(sizeof(lk_block_q4_K) == 144, "Q4_K block is 144 bytes");

/// Q5_K: 256 elements, scales and mins as Q4_K; sub-block 2k and 2k+1 quants are the low and high nibbles of
/// qs[32k .. 32k+31] plus 16 when bit 2k (resp. 2k+1) of qh[l] is set (l = element index inside the sub-block).
typedef struct lk_block_q5_K {
    uint16_t d;          // fp16 super-block scale of the scales
    uint16_t dmin;       // fp16 super-block scale of the mins
    uint8_t scales[12];  // 8 scales and 8 mins, 6 bits each (Q4_K packing)
    uint8_t qh[32];      // 5th bits: bit s of qh[l] for element l of sub-block s
    uint8_t qs[128];     // low 4 bits
} lk_block_q5_K;
static_assert(sizeof(lk_block_q5_K) == 176, "Q5_K block is 176 bytes");

/// Q6_K: 256 elements in 16 sub-blocks of 16 with int8 scales; y = (d * scales[s]) * (q - 32), q 6 bits
/// (low 4 bits in ql, high 2 bits in qh).
typedef struct lk_block_q6_K {
    uint8_t ql[128];     // low 4 bits of the quants
    uint8_t qh[64];      // high 2 bits of the quants
    int8_t scales[16];   // sub-block scales
    uint16_t d;          // fp16 super-block scale
} lk_block_q6_K;
static_assert(sizeof(lk_block_q6_K) == 210, "Q6_K block is 210 bytes");

/// One row of a type dequantized: y: [n] <- x: n / block_size blocks (n a multiple of the block size).
typedef void (*lk_dequantize_row_fn)(float *y, const void *x, int64_t n);
/// One fp32 row quantized: y: n / block_size blocks <- x: [n] (n a multiple of the block size).
typedef void (*lk_quantize_row_fn)(void *y, const float *x, int64_t n);

/// Everything the kernels know about a block type, in one table (lk_type_traits_get).
typedef struct lk_type_traits {
    lk_type type;
    const char *name;                          // "Q4_K", as ggml names it
    int64_t block_size;                        // elements per block (1 for F32/F16/BF16)
    int64_t block_bytes;                       // bytes per block
    double bits_per_weight;                    // 8 * block_bytes / block_size
    lk_dequantize_row_fn dequantize[4];        // by lk_isa: [LK_ISA_SCALAR] is the reference; NULL: use it
    lk_quantize_row_fn quantize;               // ggml's reference rounding (quantize_row_*_ref)
} lk_type_traits;

/// The traits of `t`, or NULL for a type the kernels do not handle. Every type listed here is accepted by the
/// products (lk_matmul.h, lk_matmul_bf16.h), the decoder's mat-vec and the embedding gather.
const lk_type_traits *lk_type_traits_get(lk_type t);

/// Elements per block (1 for F32/F16/BF16); 0 for an unknown type.
int64_t lk_type_block_size(lk_type t);
/// Bytes per block; 0 for an unknown type.
int64_t lk_type_block_bytes(lk_type t);

/// IEEE half to float (exact).
float lk_fp16_to_fp32(uint16_t h);
/// Float to IEEE half, round-to-nearest-even; overflow gives ±inf, NaN stays NaN.
uint16_t lk_fp32_to_fp16(float f);
/// bfloat16 to float (exact).
float lk_bf16_to_fp32(uint16_t h);
/// Float to bfloat16, round-to-nearest-even; NaN stays (quiet) NaN.
uint16_t lk_fp32_to_bf16(float f);

/// Reference dequantization of one row of any type in the table. y: [n]; x: n / block_size blocks.
/// n must be a multiple of the block size (a trailing partial block is ignored). Unknown types write nothing.
void lk_dequantize_row_ref(lk_type t, float *y, const void *x, int64_t n);
/// SIMD versions, same signature and results (bit-identical); types without a version of that ISA use the
/// reference. Call only when lk_isa_supported() says so.
void lk_dequantize_row_avx2(lk_type t, float *y, const void *x, int64_t n);
void lk_dequantize_row_avx512(lk_type t, float *y, const void *x, int64_t n);
void lk_dequantize_row_neon(lk_type t, float *y, const void *x, int64_t n);
/// Implementation for an ISA level (the reference when the CPU lacks it).
void lk_dequantize_row_isa(lk_isa isa, lk_type t, float *y, const void *x, int64_t n);
/// Dispatched: the active ISA.
void lk_dequantize_row(lk_type t, float *y, const void *x, int64_t n);

/// Quantizes one fp32 row with ggml's reference rounding (quantize_row_*_ref: Q5_0/Q5_1 by min/max,
/// K-quants with make_qkx2_quants / make_qx_quants; no importance matrix), for every type in the table.
/// y: n / block_size blocks; x: [n]. Returns 0 on success, -1 for an unknown type,
/// -2 when n is negative or not a multiple of the block size.
int lk_quantize_row(lk_type t, void *y, const float *x, int64_t n);

#ifdef __cplusplus
}
#endif
