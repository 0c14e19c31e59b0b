// NEON dequantization of F16, BF16, Q8_0, Q4_0, Q4_1 rows (AArch64 only; selected at run time).
// Bit-identical to the reference: the same products and sums, never fused.
#include "lk_quant.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static inline uint16_t ld16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }

// 16 unsigned bytes -> 4 x 4 floats at y (optionally minus 8, times d, plus m).
static inline void store_u8x16(float *y, uint8x16_t q, float32x4_t d, float32x4_t m, int sub8, int addm) {
    const uint16x8_t w[2] = {vmovl_u8(vget_low_u8(q)), vmovl_u8(vget_high_u8(q))};
    for (int h = 0; h < 2; h++) {
        float32x4_t v[2] = {vcvtq_f32_u32(vmovl_u16(vget_low_u16(w[h]))), vcvtq_f32_u32(vmovl_u16(vget_high_u16(w[h])))};
        for (int k = 0; k < 2; k++) {
            float32x4_t r = sub8 ? vmulq_f32(vsubq_f32(v[k], vdupq_n_f32(8.0f)), d) : vmulq_f32(v[k], d);
            if (addm) r = vaddq_f32(r, m);
            vst1q_f32(y + 8 * h + 4 * k, r);
        }
    }
}

void lk_dequantize_row_neon(lk_type t, float *y, const void *x, int64_t n) {
    const uint8_t *b = (const uint8_t *)x;
    int64_t i = 0;
    switch (t) {
    case LK_F16:
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16((const uint16_t *)(b + 2 * i)))));
        for (; i < n; i++) y[i] = lk_fp16_to_fp32(ld16(b + 2 * i));
        return;
    case LK_BF16:
        for (; i + 4 <= n; i += 4) vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vld1_u16((const uint16_t *)(b + 2 * i)), 16)));
        for (; i < n; i++) y[i] = lk_bf16_to_fp32(ld16(b + 2 * i));
        return;
    case LK_Q8_0:
        for (int64_t k = 0; k < n / 32; k++, b += sizeof(lk_block_q8_0), y += 32) {
            const float32x4_t d = vdupq_n_f32(lk_fp16_to_fp32(ld16(b)));
            for (int j = 0; j < 32; j += 8) {
                const int16x8_t w = vmovl_s8(vld1_s8((const int8_t *)(b + 2 + j)));
                vst1q_f32(y + j, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(w))), d));
                vst1q_f32(y + j + 4, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(w))), d));
            }
        }
        return;
    case LK_Q4_0:
    case LK_Q4_1: {
        const int is1 = t == LK_Q4_1;
        const size_t bytes = is1 ? sizeof(lk_block_q4_1) : sizeof(lk_block_q4_0);
        for (int64_t k = 0; k < n / 32; k++, b += bytes, y += 32) {
            const float32x4_t d = vdupq_n_f32(lk_fp16_to_fp32(ld16(b)));
            const float32x4_t m = vdupq_n_f32(is1 ? lk_fp16_to_fp32(ld16(b + 2)) : 0.0f);
            const uint8x16_t q = vld1q_u8(b + (is1 ? 4 : 2));
            store_u8x16(y, vandq_u8(q, vdupq_n_u8(0x0f)), d, m, !is1, is1);
            store_u8x16(y + 16, vshrq_n_u8(q, 4), d, m, !is1, is1);
        }
        return;
    }
    default:
        lk_dequantize_row_ref(t, y, x, n);
        return;
    }
}
#else
void lk_dequantize_row_neon(lk_type t, float *y, const void *x, int64_t n) { lk_dequantize_row_ref(t, y, x, n); }
#endif
