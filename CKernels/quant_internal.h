// Internal: the per-type row kernels the type-traits table (quant_types.c) points to.
// Every function has the lk_dequantize_row_fn / lk_quantize_row_fn signature: y: [n] floats <- x: n / block_size
// blocks (or the reverse for quantization), n a multiple of the block size. *_ref is the spec; the SIMD
// versions are bit-identical to it (same products and sums, never fused).
#pragma once
#include "lk_quant.h"

#pragma STDC FP_CONTRACT OFF

#define LK_ROW_KERNELS(isa)                                                  \
    void lk_dq_f16_##isa(float *y, const void *x, int64_t n);               \
    void lk_dq_bf16_##isa(float *y, const void *x, int64_t n);              \
    void lk_dq_q8_0_##isa(float *y, const void *x, int64_t n);              \
    void lk_dq_q4_0_##isa(float *y, const void *x, int64_t n);              \
    void lk_dq_q4_1_##isa(float *y, const void *x, int64_t n);              \
    void lk_dq_q5_0_##isa(float *y, const void *x, int64_t n);              \
    void lk_dq_q5_1_##isa(float *y, const void *x, int64_t n);              \
    void lk_dq_q4_K_##isa(float *y, const void *x, int64_t n);              \
    void lk_dq_q5_K_##isa(float *y, const void *x, int64_t n);              \
    void lk_dq_q6_K_##isa(float *y, const void *x, int64_t n);

LK_ROW_KERNELS(ref)
void lk_dq_f32_ref(float *y, const void *x, int64_t n);
#if defined(__x86_64__)
LK_ROW_KERNELS(avx2)
LK_ROW_KERNELS(avx512)
#endif
#if defined(__aarch64__)
LK_ROW_KERNELS(neon)
#endif

void lk_q_f32_ref(void *y, const float *x, int64_t n);
void lk_q_f16_ref(void *y, const float *x, int64_t n);
void lk_q_bf16_ref(void *y, const float *x, int64_t n);
void lk_q_q8_0_ref(void *y, const float *x, int64_t n);
void lk_q_q4_0_ref(void *y, const float *x, int64_t n);
void lk_q_q4_1_ref(void *y, const float *x, int64_t n);
void lk_q_q5_0_ref(void *y, const float *x, int64_t n);
void lk_q_q5_1_ref(void *y, const float *x, int64_t n);
void lk_q_q4_K_ref(void *y, const float *x, int64_t n);
void lk_q_q5_K_ref(void *y, const float *x, int64_t n);
void lk_q_q6_K_ref(void *y, const float *x, int64_t n);

/// Scale and min of sub-block j (0..7) of a Q4_K / Q5_K block from its 12 packed bytes (6 bits each).
static inline void lk_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/// Kernel of 64 elements of a Q4_K / Q5_K super-block: sub-blocks 2j (low nibbles of ql[0..31]) and 2j+1 (high
/// nibbles), plus 16 where bit 2j / 2j+1 of qh[l] is set (Q5_K; qh NULL for Q4_K); y[s] = d_s * q - m_s.
typedef void (*lk_k_pair_fn)(float *y, const uint8_t *ql, const uint8_t *qh, int j, float d1, float m1, float d2,
                             float m2);

/// Dequantizes Q4_K (q5 = 0) or Q5_K (q5 = 1) rows with a pair kernel: the scales d·sc and dmin·m of each
/// sub-block are computed here once, in the reference's order, for every ISA. y: [n]; x: n / 256 blocks.
static inline void lk_dq_k45(float *y, const void *x, int64_t n, int q5, lk_k_pair_fn pair) {
    const size_t bytes = q5 ? sizeof(lk_block_q5_K) : sizeof(lk_block_q4_K);
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *blk = (const uint8_t *)x + i * (int64_t)bytes;
        // Q5_K starts like Q4_K: d, dmin, scales[12]; then qh, qs.
        const lk_block_q4_K *h = (const lk_block_q4_K *)blk;
        const uint8_t *qs = q5 ? ((const lk_block_q5_K *)blk)->qs : h->qs, *qh = q5 ? ((const lk_block_q5_K *)blk)->qh : NULL;
        const float d = lk_fp16_to_fp32(h->d), dmin = lk_fp16_to_fp32(h->dmin);
        for (int j = 0; j < 4; j++, y += 64) {
            uint8_t sc1, m1, sc2, m2;
            lk_scale_min_k4(2 * j, h->scales, &sc1, &m1);
            lk_scale_min_k4(2 * j + 1, h->scales, &sc2, &m2);
            pair(y, qs + 32 * j, qh, j, d * (float)sc1, dmin * (float)m1, d * (float)sc2, dmin * (float)m2);
        }
    }
}

/// The u32 of a Q5 block's 5th bits.
static inline uint32_t lk_q5_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}
