// NEON row dequantization of every block type (AArch64 only; picked at run time through the type-traits table).
// Bit-identical to the reference: integer quants formed exactly, then the reference's products and sums, never fused.
#include "../quant_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static inline float half(uint16_t h) { return lk_fp16_to_fp32(h); }

enum { QD_PLUS_M, Q_MINUS_OFF_D, DQ_MINUS_M }; // q*d + m, (q - off)*d, d*q - m

// y[0..15] from 16 unsigned quants.
static inline void store_u8x16(float *y, uint8x16_t q, float32x4_t d, float32x4_t m, int mode) {
    const uint16x8_t w[2] = {vmovl_u8(vget_low_u8(q)), vmovl_u8(vget_high_u8(q))};
    for (int h = 0; h < 2; h++) {
        const float32x4_t v[2] = {vcvtq_f32_u32(vmovl_u16(vget_low_u16(w[h]))), vcvtq_f32_u32(vmovl_u16(vget_high_u16(w[h])))};
        for (int k = 0; k < 2; k++) {
            float32x4_t r;
            if (mode == QD_PLUS_M) r = vaddq_f32(vmulq_f32(v[k], d), m);
            else if (mode == Q_MINUS_OFF_D) r = vmulq_f32(vsubq_f32(v[k], m), d); // m holds the offset; exact
            else r = vsubq_f32(vmulq_f32(d, v[k]), m);
            vst1q_f32(y + 8 * h + 4 * k, r);
        }
    }
}

// y[0..15] = d * q for 16 signed quants.
static inline void store_s8x16(float *y, int8x16_t q, float32x4_t d) {
    const int16x8_t w[2] = {vmovl_s8(vget_low_s8(q)), vmovl_s8(vget_high_s8(q))};
    for (int h = 0; h < 2; h++) {
        vst1q_f32(y + 8 * h, vmulq_f32(d, vcvtq_f32_s32(vmovl_s16(vget_low_s16(w[h])))));
        vst1q_f32(y + 8 * h + 4, vmulq_f32(d, vcvtq_f32_s32(vmovl_s16(vget_high_s16(w[h])))));
    }
}

void lk_dq_f16_neon(float *y, const void *x, int64_t n) {
    const uint16_t *h = (const uint16_t *)x;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h + i))));
    for (; i < n; i++) y[i] = lk_fp16_to_fp32(h[i]);
}

void lk_dq_bf16_neon(float *y, const void *x, int64_t n) {
    const uint16_t *h = (const uint16_t *)x;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(h + i), 16)));
    for (; i < n; i++) y[i] = lk_bf16_to_fp32(h[i]);
}

void lk_dq_q8_0_neon(float *y, const void *x, int64_t n) {
    const lk_block_q8_0 *b = (const lk_block_q8_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float32x4_t d = vdupq_n_f32(half(b[i].d));
        // q * d, written d * q: the same product.
        store_s8x16(y, vld1q_s8(b[i].qs), d);
        store_s8x16(y + 16, vld1q_s8(b[i].qs + 16), d);
    }
}

void lk_dq_q4_0_neon(float *y, const void *x, int64_t n) {
    const lk_block_q4_0 *b = (const lk_block_q4_0 *)x;
    const float32x4_t eight = vdupq_n_f32(8.0f);
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float32x4_t d = vdupq_n_f32(half(b[i].d));
        const uint8x16_t q = vld1q_u8(b[i].qs);
        store_u8x16(y, vandq_u8(q, vdupq_n_u8(0x0f)), d, eight, Q_MINUS_OFF_D);
        store_u8x16(y + 16, vshrq_n_u8(q, 4), d, eight, Q_MINUS_OFF_D);
    }
}

void lk_dq_q4_1_neon(float *y, const void *x, int64_t n) {
    const lk_block_q4_1 *b = (const lk_block_q4_1 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float32x4_t d = vdupq_n_f32(half(b[i].d)), m = vdupq_n_f32(half(b[i].m));
        const uint8x16_t q = vld1q_u8(b[i].qs);
        store_u8x16(y, vandq_u8(q, vdupq_n_u8(0x0f)), d, m, QD_PLUS_M);
        store_u8x16(y + 16, vshrq_n_u8(q, 4), d, m, QD_PLUS_M);
    }
}

// 16 where bit j of the 16-bit h is set, for bytes j = 0..15.
static inline uint8x16_t bits16_to_16s(uint32_t h) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bytes = vcombine_u8(vdup_n_u8((uint8_t)h), vdup_n_u8((uint8_t)(h >> 8)));
    return vandq_u8(vtstq_u8(bytes, vld1q_u8(bit)), vdupq_n_u8(16));
}

static inline void q5_quants_neon(const uint8_t qs[16], const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi) {
    const uint32_t h = lk_q5_qh(qh);
    const uint8x16_t q = vld1q_u8(qs);
    *lo = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), bits16_to_16s(h & 0xffff));
    *hi = vorrq_u8(vshrq_n_u8(q, 4), bits16_to_16s(h >> 16));
}

void lk_dq_q5_0_neon(float *y, const void *x, int64_t n) {
    const lk_block_q5_0 *b = (const lk_block_q5_0 *)x;
    const float32x4_t sixteen = vdupq_n_f32(16.0f);
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float32x4_t d = vdupq_n_f32(half(b[i].d));
        uint8x16_t lo, hi;
        q5_quants_neon(b[i].qs, b[i].qh, &lo, &hi);
        store_u8x16(y, lo, d, sixteen, Q_MINUS_OFF_D);
        store_u8x16(y + 16, hi, d, sixteen, Q_MINUS_OFF_D);
    }
}

void lk_dq_q5_1_neon(float *y, const void *x, int64_t n) {
    const lk_block_q5_1 *b = (const lk_block_q5_1 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float32x4_t d = vdupq_n_f32(half(b[i].d)), m = vdupq_n_f32(half(b[i].m));
        uint8x16_t lo, hi;
        q5_quants_neon(b[i].qs, b[i].qh, &lo, &hi);
        store_u8x16(y, lo, d, m, QD_PLUS_M);
        store_u8x16(y + 16, hi, d, m, QD_PLUS_M);
    }
}

// Q4_K / Q5_K: 64 elements of sub-blocks 2j and 2j+1 (see quant_kquants_ref.c); qh NULL for Q4_K.
static inline void k_pair_neon(float *y, const uint8_t *ql, const uint8_t *qh, int j, float d1, float m1, float d2,
                               float m2) {
    const float32x4_t vd1 = vdupq_n_f32(d1), vm1 = vdupq_n_f32(m1), vd2 = vdupq_n_f32(d2), vm2 = vdupq_n_f32(m2);
    for (int h = 0; h < 2; h++) {
        const uint8x16_t q = vld1q_u8(ql + 16 * h);
        uint8x16_t lo = vandq_u8(q, vdupq_n_u8(0x0f)), hi = vshrq_n_u8(q, 4);
        if (qh) {
            const uint8x16_t bits = vld1q_u8(qh + 16 * h), s16 = vdupq_n_u8(16);
            lo = vorrq_u8(lo, vandq_u8(vtstq_u8(bits, vdupq_n_u8((uint8_t)(1u << (2 * j)))), s16));
            hi = vorrq_u8(hi, vandq_u8(vtstq_u8(bits, vdupq_n_u8((uint8_t)(2u << (2 * j)))), s16));
        }
        store_u8x16(y + 16 * h, lo, vd1, vm1, DQ_MINUS_M);
        store_u8x16(y + 32 + 16 * h, hi, vd2, vm2, DQ_MINUS_M);
    }
}

void lk_dq_q4_K_neon(float *y, const void *x, int64_t n) { lk_dq_k45(y, x, n, 0, k_pair_neon); }

void lk_dq_q5_K_neon(float *y, const void *x, int64_t n) { lk_dq_k45(y, x, n, 1, k_pair_neon); }

void lk_dq_q6_K_neon(float *y, const void *x, int64_t n) {
    const lk_block_q6_K *b = (const lk_block_q6_K *)x;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m30 = vdupq_n_u8(0x30), off = vdupq_n_u8(32);
    for (int64_t i = 0; i < n / 256; i++) {
        const float d = half(b[i].d);
        for (int h = 0; h < 2; h++, y += 128) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            for (int s = 0; s < 2; s++) {
                const uint8x16_t a = vld1q_u8(ql + 16 * s), c = vld1q_u8(ql + 32 + 16 * s), hb = vld1q_u8(qh + 16 * s);
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(a, m4), vandq_u8(vshlq_n_u8(hb, 4), m30));
                q[1] = vorrq_u8(vandq_u8(c, m4), vandq_u8(vshlq_n_u8(hb, 2), m30));
                q[2] = vorrq_u8(vshrq_n_u8(a, 4), vandq_u8(hb, m30));
                q[3] = vorrq_u8(vshrq_n_u8(c, 4), vandq_u8(vshrq_n_u8(hb, 2), m30));
                for (int g = 0; g < 4; g++) {
                    const float32x4_t ds = vdupq_n_f32(d * (float)b[i].scales[8 * h + 2 * g + s]);
                    store_s8x16(y + 32 * g + 16 * s, vreinterpretq_s8_u8(vsubq_u8(q[g], off)), ds);
                }
            }
        }
    }
}
#endif
