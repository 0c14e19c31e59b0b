// Scalar reference of the 32-element block formats and the float types: float conversions, dequantization,
// quantization with ggml's reference rounding (quantize_row_*_ref). The spec the SIMD versions are tested
// against; the K-quants are in quant_kquants_ref.c.
#include "quant_internal.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF // same rounding as ggml / gguf-py: no fused multiply-add

static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t bits_from_f32(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

float lk_fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        const float v = (float)mant * 0x1p-24f; // exact: subnormal (or zero)
        return f32_from_bits(sign | bits_from_f32(v));
    }
    if (exp == 31) return f32_from_bits(sign | 0x7f800000u | (mant << 13));
    return f32_from_bits(sign | ((exp + 112u) << 23) | (mant << 13));
}

uint16_t lk_fp32_to_fp16(float f) {
    const uint32_t u = bits_from_f32(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu)); // NaN, kept quiet
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);                    // rounds to ±inf
    if (a < 0x38800000u) {                                                       // half subnormal or zero
        const float r = f32_from_bits(a) + 0.5f; // aligns the value to a 2^-24 ulp, rounding to nearest even
        return (uint16_t)(sign | (bits_from_f32(r) - 0x3f000000u));
    }
    const uint32_t odd = (a >> 13) & 1u;
    return (uint16_t)(sign | ((a + 0xc8000fffu + odd) >> 13)); // rebias exponent (-112 << 23) and round
}

float lk_bf16_to_fp32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

uint16_t lk_fp32_to_bf16(float f) {
    const uint32_t u = bits_from_f32(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); // NaN, kept quiet
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

static inline float half(uint16_t h) { return lk_fp16_to_fp32(h); }

// MARK: - Dequantization (ggml's dequantize_row_* operation order)

void lk_dq_f32_ref(float *y, const void *x, int64_t n) { memcpy(y, x, (size_t)n * 4); }

void lk_dq_f16_ref(float *y, const void *x, int64_t n) {
    const uint16_t *h = (const uint16_t *)x;
    for (int64_t i = 0; i < n; i++) y[i] = lk_fp16_to_fp32(h[i]);
}

void lk_dq_bf16_ref(float *y, const void *x, int64_t n) {
    const uint16_t *h = (const uint16_t *)x;
    for (int64_t i = 0; i < n; i++) y[i] = lk_bf16_to_fp32(h[i]);
}

void lk_dq_q8_0_ref(float *y, const void *x, int64_t n) {
    const lk_block_q8_0 *b = (const lk_block_q8_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = half(b[i].d);
        for (int j = 0; j < 32; j++) y[j] = (float)b[i].qs[j] * d;
    }
}

void lk_dq_q4_0_ref(float *y, const void *x, int64_t n) {
    const lk_block_q4_0 *b = (const lk_block_q4_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = half(b[i].d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[i].qs[j] & 0x0f) - 8) * d;
            y[j + 16] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void lk_dq_q4_1_ref(float *y, const void *x, int64_t n) {
    const lk_block_q4_1 *b = (const lk_block_q4_1 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = half(b[i].d), m = half(b[i].m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[i].qs[j] & 0x0f) * d + m;
            y[j + 16] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

// The 5-bit quants of a Q5 block: q[j] = nibble | (5th bit << 4), 0..31.
static inline void q5_quants(int q[32], const uint8_t qs[16], uint32_t qh) {
    for (int j = 0; j < 16; j++) {
        q[j] = (qs[j] & 0x0f) | (int)(((qh >> j) << 4) & 0x10);
        q[j + 16] = (qs[j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
    }
}

void lk_dq_q5_0_ref(float *y, const void *x, int64_t n) {
    const lk_block_q5_0 *b = (const lk_block_q5_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = half(b[i].d);
        int q[32];
        q5_quants(q, b[i].qs, lk_q5_qh(b[i].qh));
        for (int j = 0; j < 32; j++) y[j] = (float)(q[j] - 16) * d;
    }
}

void lk_dq_q5_1_ref(float *y, const void *x, int64_t n) {
    const lk_block_q5_1 *b = (const lk_block_q5_1 *)x;
    for (int64_t i = 0; i < n / 32; i++, y += 32) {
        const float d = half(b[i].d), m = half(b[i].m);
        int q[32];
        q5_quants(q, b[i].qs, lk_q5_qh(b[i].qh));
        for (int j = 0; j < 32; j++) y[j] = (float)q[j] * d + m;
    }
}

// MARK: - Quantization (ggml's reference rounding)

void lk_q_f32_ref(void *y, const float *x, int64_t n) { memcpy(y, x, (size_t)n * 4); }

void lk_q_f16_ref(void *y, const float *x, int64_t n) {
    uint16_t *h = (uint16_t *)y;
    for (int64_t i = 0; i < n; i++) h[i] = lk_fp32_to_fp16(x[i]);
}

void lk_q_bf16_ref(void *y, const float *x, int64_t n) {
    uint16_t *h = (uint16_t *)y;
    for (int64_t i = 0; i < n; i++) h[i] = lk_fp32_to_bf16(x[i]);
}

void lk_q_q8_0_ref(void *out, const float *x, int64_t n) {
    lk_block_q8_0 *y = (lk_block_q8_0 *)out;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = lk_fp32_to_fp16(d);
        for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

// The value of largest magnitude (the first one on ties), as ggml's Q4_0 / Q5_0 pick it.
static inline float signed_absmax(const float *x) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 32; j++) {
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    }
    return max;
}

// Minimum, step d = (max - min) / levels and its inverse of a block (ggml's Q4_1 / Q5_1), min and d stored as fp16.
static inline void affine_scale(const float *x, float levels, uint16_t *dh, uint16_t *mh, float *min, float *id) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < 32; j++) {
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
    }
    const float d = (mx - mn) / levels;
    *id = d != 0.0f ? 1.0f / d : 0.0f;
    *min = mn;
    *dh = lk_fp32_to_fp16(d);
    *mh = lk_fp32_to_fp16(mn);
}

void lk_q_q4_0_ref(void *out, const float *x, int64_t n) {
    lk_block_q4_0 *y = (lk_block_q4_0 *)out;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = signed_absmax(x) / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = lk_fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            const int q0 = (int8_t)(x[j] * id + 8.5f), q1 = (int8_t)(x[j + 16] * id + 8.5f);
            y[i].qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
        }
    }
}

void lk_q_q4_1_ref(void *out, const float *x, int64_t n) {
    lk_block_q4_1 *y = (lk_block_q4_1 *)out;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float min, id;
        affine_scale(x, 15.0f, &y[i].d, &y[i].m, &min, &id);
        for (int j = 0; j < 16; j++) {
            const int q0 = (int8_t)((x[j] - min) * id + 0.5f), q1 = (int8_t)((x[j + 16] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
        }
    }
}

// Packs 32 5-bit quants into a Q5 block's nibbles and 5th bits.
static inline void q5_pack(uint8_t qs[16], uint8_t qh[4], const int q[32]) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0x0f) | ((q[j + 16] & 0x0f) << 4));
        h |= (uint32_t)((q[j] & 0x10) >> 4) << j;
        h |= (uint32_t)((q[j + 16] & 0x10) >> 4) << (j + 16);
    }
    for (int k = 0; k < 4; k++) qh[k] = (uint8_t)(h >> (8 * k));
}

void lk_q_q5_0_ref(void *out, const float *x, int64_t n) {
    lk_block_q5_0 *y = (lk_block_q5_0 *)out;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float d = signed_absmax(x) / -16.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = lk_fp32_to_fp16(d);
        int q[32];
        for (int j = 0; j < 32; j++) {
            const int v = (int8_t)(x[j] * id + 16.5f);
            q[j] = (uint8_t)(v < 31 ? v : 31);
        }
        q5_pack(y[i].qs, y[i].qh, q);
    }
}

void lk_q_q5_1_ref(void *out, const float *x, int64_t n) {
    lk_block_q5_1 *y = (lk_block_q5_1 *)out;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        float min, id;
        affine_scale(x, 31.0f, &y[i].d, &y[i].m, &min, &id);
        int q[32];
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)((x[j] - min) * id + 0.5f);
        q5_pack(y[i].qs, y[i].qh, q);
    }
}
