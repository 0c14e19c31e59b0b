// Scalar reference of the block formats: float conversions, dequantization of every type, quantization
// with ggml's reference rounding. This is the spec the SIMD versions are tested against.
#include "lk_quant.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF // same rounding as ggml / gguf-py: no fused multiply-add

int64_t lk_type_block_size(lk_type t) {
    switch (t) {
    case LK_F32: case LK_F16: case LK_BF16: return 1;
    case LK_Q4_0: case LK_Q4_1: case LK_Q8_0: return 32;
    case LK_Q4_K: case LK_Q6_K: return 256;
    }
    return 0;
}

int64_t lk_type_block_bytes(lk_type t) {
    switch (t) {
    case LK_F32: return 4;
    case LK_F16: case LK_BF16: return 2;
    case LK_Q4_0: return (int64_t)sizeof(lk_block_q4_0);
    case LK_Q4_1: return (int64_t)sizeof(lk_block_q4_1);
    case LK_Q8_0: return (int64_t)sizeof(lk_block_q8_0);
    case LK_Q4_K: return (int64_t)sizeof(lk_block_q4_K);
    case LK_Q6_K: return (int64_t)sizeof(lk_block_q6_K);
    }
    return 0;
}

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

static inline uint16_t ld16(const void *p) { uint16_t v; memcpy(&v, p, 2); return v; }

void lk_dequantize_row_ref(lk_type t, float *y, const void *x, int64_t n) {
    const uint8_t *b = (const uint8_t *)x;
    const int64_t bs = lk_type_block_size(t);
    if (bs == 0 || n <= 0) return;
    const int64_t nb = n / bs;
    switch (t) {
    case LK_F32:
        memcpy(y, x, (size_t)n * 4);
        break;
    case LK_F16:
        for (int64_t i = 0; i < n; i++) y[i] = lk_fp16_to_fp32(ld16(b + 2 * i));
        break;
    case LK_BF16:
        for (int64_t i = 0; i < n; i++) y[i] = lk_bf16_to_fp32(ld16(b + 2 * i));
        break;
    case LK_Q8_0:
        for (int64_t i = 0; i < nb; i++, b += sizeof(lk_block_q8_0)) {
            const float d = lk_fp16_to_fp32(ld16(b));
            const int8_t *qs = (const int8_t *)(b + 2);
            for (int j = 0; j < 32; j++) y[32 * i + j] = (float)qs[j] * d;
        }
        break;
    case LK_Q4_0:
        for (int64_t i = 0; i < nb; i++, b += sizeof(lk_block_q4_0)) {
            const float d = lk_fp16_to_fp32(ld16(b));
            const uint8_t *qs = b + 2;
            for (int j = 0; j < 16; j++) {
                y[32 * i + j] = (float)((qs[j] & 0x0f) - 8) * d;
                y[32 * i + j + 16] = (float)((qs[j] >> 4) - 8) * d;
            }
        }
        break;
    case LK_Q4_1:
        for (int64_t i = 0; i < nb; i++, b += sizeof(lk_block_q4_1)) {
            const float d = lk_fp16_to_fp32(ld16(b)), m = lk_fp16_to_fp32(ld16(b + 2));
            const uint8_t *qs = b + 4;
            for (int j = 0; j < 16; j++) {
                y[32 * i + j] = (float)(qs[j] & 0x0f) * d + m;
                y[32 * i + j + 16] = (float)(qs[j] >> 4) * d + m;
            }
        }
        break;
    case LK_Q4_K:
        lk_dequantize_q4_K_ref(y, (const lk_block_q4_K *)x, nb);
        break;
    case LK_Q6_K:
        lk_dequantize_q6_K_ref(y, (const lk_block_q6_K *)x, nb);
        break;
    }
}

// MARK: - Quantization (ggml's reference rounding)

static void quantize_q8_0(lk_block_q8_0 *y, const float *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float amax = 0.0f;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = lk_fp32_to_fp16(d);
        memcpy(&y[i].d, &dh, 2);
        for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

static void quantize_q4_0(lk_block_q4_0 *y, const float *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < 32; j++) {
            if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
        }
        const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = lk_fp32_to_fp16(d);
        memcpy(&y[i].d, &dh, 2);
        for (int j = 0; j < 16; j++) {
            const int q0 = (int8_t)(x[j] * id + 8.5f), q1 = (int8_t)(x[j + 16] * id + 8.5f);
            y[i].qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
        }
    }
}

static void quantize_q4_1(lk_block_q4_1 *y, const float *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32) {
        float min = x[0], max = x[0];
        for (int j = 1; j < 32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        const uint16_t dh = lk_fp32_to_fp16(d), mh = lk_fp32_to_fp16(min);
        memcpy(&y[i].d, &dh, 2);
        memcpy(&y[i].m, &mh, 2);
        for (int j = 0; j < 16; j++) {
            const int q0 = (int8_t)((x[j] - min) * id + 0.5f), q1 = (int8_t)((x[j + 16] - min) * id + 0.5f);
            y[i].qs[j] = (uint8_t)((q0 < 15 ? q0 : 15) | ((q1 < 15 ? q1 : 15) << 4));
        }
    }
}

int lk_quantize_row(lk_type t, void *y, const float *x, int64_t n) {
    const int64_t bs = lk_type_block_size(t);
    if (t == LK_Q4_K || t == LK_Q6_K || bs == 0) return -1;
    if (n < 0 || n % bs != 0) return -2;
    uint8_t *o = (uint8_t *)y;
    switch (t) {
    case LK_F32: memcpy(y, x, (size_t)n * 4); break;
    case LK_F16:
        for (int64_t i = 0; i < n; i++) { const uint16_t h = lk_fp32_to_fp16(x[i]); memcpy(o + 2 * i, &h, 2); }
        break;
    case LK_BF16:
        for (int64_t i = 0; i < n; i++) { const uint16_t h = lk_fp32_to_bf16(x[i]); memcpy(o + 2 * i, &h, 2); }
        break;
    case LK_Q8_0: quantize_q8_0((lk_block_q8_0 *)y, x, n / 32); break;
    case LK_Q4_0: quantize_q4_0((lk_block_q4_0 *)y, x, n / 32); break;
    case LK_Q4_1: quantize_q4_1((lk_block_q4_1 *)y, x, n / 32); break;
    default: return -1;
    }
    return 0;
}
