// W rows as integers for the int8 products (see lk_matmul_int8.h): each block type's quants and scales read into
// wi (signed integers), Sw and Bw per group, so that w = Sw·wi + Bw equals the type's dequantization exactly
// (same float operations for Sw and Bw as lk_dequantize_row_ref). Also the left operand's quantization and the
// spec of one product element.
#include "lk_matmul_int8.h"
#include "lk_matmul_int8_kernel.h"
#include "quant_internal.h"
#include <math.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static inline float half(uint16_t h) { return lk_fp16_to_fp32(h); }

int lk_int8_group(lk_type t) {
    switch (t) {
    case LK_Q8_0: case LK_Q4_0: case LK_Q4_1: case LK_Q5_0: case LK_Q5_1: case LK_Q4_K: case LK_Q5_K: return 32;
    case LK_Q6_K: return 16;
    default: return 0;
    }
}

int lk_int8_type_supported(lk_type t) { return lk_int8_group(t) != 0; }

int lk_int8_zero_point(lk_type t) {
    switch (t) {
    case LK_Q8_0: return 128;
    case LK_Q4_0: return 8;
    case LK_Q5_0: return 16;
    case LK_Q6_K: return 32;
    default: return 0;
    }
}

static void unpack_q8_0(int8_t *wi, float *sw, float *bw, const void *x, int64_t n) {
    const lk_block_q8_0 *b = (const lk_block_q8_0 *)x;
    for (int64_t i = 0; i < n / 32; i++, wi += 32) {
        memcpy(wi, b[i].qs, 32);
        sw[i] = half(b[i].d);
        bw[i] = 0;
    }
}

// Q4_0 / Q5_0 (offset 8 / 16, Bw = 0) and Q4_1 / Q5_1 (offset 0, Bw = m): nibbles as Q4_0 orders them, Q5's
// fifth bits from the little-endian u32 qh.
static void unpack_q45(int8_t *wi, float *sw, float *bw, const void *x, int64_t n, int five, int with_min) {
    static const int64_t bytes[2][2] = {{sizeof(lk_block_q4_0), sizeof(lk_block_q4_1)},
                                        {sizeof(lk_block_q5_0), sizeof(lk_block_q5_1)}};
    const uint8_t *p = (const uint8_t *)x;
    const int off = with_min ? 0 : (five ? 16 : 8);
    for (int64_t i = 0; i < n / 32; i++, wi += 32, p += bytes[five][with_min]) {
        uint16_t d, m = 0;
        uint32_t qh = 0;
        memcpy(&d, p, 2);
        if (with_min) memcpy(&m, p + 2, 2);
        const uint8_t *h = p + (with_min ? 4 : 2);
        if (five) memcpy(&qh, h, 4);
        const uint8_t *qs = h + (five ? 4 : 0);
        for (int j = 0; j < 16; j++) {
            wi[j] = (int8_t)(((qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) - off);
            wi[j + 16] = (int8_t)(((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - off);
        }
        sw[i] = half(d);
        bw[i] = with_min ? half(m) : 0;
    }
}

// Q4_K / Q5_K: sub-block s of 32, Sw = d·sc_s, Bw = -(dmin·m_s) (the reference's d1 and m1).
static void unpack_k45(int8_t *wi, float *sw, float *bw, const void *x, int64_t n, int q5) {
    const size_t bytes = q5 ? sizeof(lk_block_q5_K) : sizeof(lk_block_q4_K);
    for (int64_t i = 0; i < n / 256; i++) {
        const uint8_t *blk = (const uint8_t *)x + i * (int64_t)bytes;
        const lk_block_q4_K *h = (const lk_block_q4_K *)blk;
        const uint8_t *qs = q5 ? ((const lk_block_q5_K *)blk)->qs : h->qs, *qh = q5 ? ((const lk_block_q5_K *)blk)->qh : NULL;
        const float d = half(h->d), dmin = half(h->dmin);
        for (int j = 0; j < 4; j++, wi += 64, sw += 2, bw += 2) {
            uint8_t sc, m;
            lk_scale_min_k4(2 * j, h->scales, &sc, &m);
            sw[0] = d * sc;
            bw[0] = -(dmin * m);
            lk_scale_min_k4(2 * j + 1, h->scales, &sc, &m);
            sw[1] = d * sc;
            bw[1] = -(dmin * m);
            const uint8_t *ql = qs + 32 * j;
            for (int l = 0; l < 32; l++) {
                int lo = ql[l] & 0x0f, hi = ql[l] >> 4;
                if (qh) {
                    lo |= ((qh[l] >> (2 * j)) & 1) << 4;
                    hi |= ((qh[l] >> (2 * j + 1)) & 1) << 4;
                }
                wi[l] = (int8_t)lo;
                wi[l + 32] = (int8_t)hi;
            }
        }
    }
}

// Q6_K: sub-block g of 16 elements, Sw = d·sc_g, wi = q - 32.
static void unpack_q6_K(int8_t *wi, float *sw, float *bw, const void *x, int64_t n) {
    const lk_block_q6_K *b = (const lk_block_q6_K *)x;
    for (int64_t i = 0; i < n / 256; i++) {
        const float d = half(b[i].d);
        for (int g = 0; g < 16; g++) {
            sw[16 * i + g] = d * (float)b[i].scales[g];
            bw[16 * i + g] = 0;
        }
        const uint8_t *ql = b[i].ql, *qh = b[i].qh;
        for (int h = 0; h < 2; h++, wi += 128, ql += 64, qh += 32) {
            for (int l = 0; l < 32; l++) {
                wi[l] = (int8_t)(((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32);
                wi[l + 32] = (int8_t)(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
                wi[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                wi[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
    }
}

int lk_int8_unpack_row(lk_type t, int8_t *wi, float *sw, float *bw, const void *w, int64_t n) {
    switch (t) {
    case LK_Q8_0: unpack_q8_0(wi, sw, bw, w, n); return 0;
    case LK_Q4_0: unpack_q45(wi, sw, bw, w, n, 0, 0); return 0;
    case LK_Q4_1: unpack_q45(wi, sw, bw, w, n, 0, 1); return 0;
    case LK_Q5_0: unpack_q45(wi, sw, bw, w, n, 1, 0); return 0;
    case LK_Q5_1: unpack_q45(wi, sw, bw, w, n, 1, 1); return 0;
    case LK_Q4_K: unpack_k45(wi, sw, bw, w, n, 0); return 0;
    case LK_Q5_K: unpack_k45(wi, sw, bw, w, n, 1); return 0;
    case LK_Q6_K: unpack_q6_K(wi, sw, bw, w, n); return 0;
    default: return -1;
    }
}

void lk_int8_quantize_row_ref(int8_t *q, float *d, float *s, const float *x, int64_t n, int G) {
    for (int64_t g = 0; g < n / G; g++) {
        const float *xg = x + g * G;
        float amax = 0;
        for (int i = 0; i < G; i++) amax = fmaxf(amax, fabsf(xg[i]));
        const float dg = amax / 127.0f, id = dg != 0 ? 1.0f / dg : 0.0f;
        int sum = 0;
        for (int i = 0; i < G; i++) {
            const int v = lk_i8_round_even(xg[i] * id);
            q[g * G + i] = (int8_t)v;
            sum += v;
        }
        d[g] = dg;
        s[g] = dg * (float)sum;
    }
}

double lk_int8_dot_ref(lk_type t, const void *w, const int8_t *q, const float *d, const float *s, int64_t n) {
    const int G = lk_int8_group(t);
    if (G == 0 || n <= 0) return 0;
    int8_t wi[256];
    float sw[16], bw[16];
    const int64_t bs = lk_type_block_size(t), bb = lk_type_block_bytes(t);
    double acc = 0;
    for (int64_t b = 0; b < n / bs; b++) {
        lk_int8_unpack_row(t, wi, sw, bw, (const uint8_t *)w + b * bb, bs);
        for (int g = 0; g < bs / G; g++) {
            const int64_t gi = b * (bs / G) + g;
            int32_t isum = 0;
            for (int i = 0; i < G; i++) isum += (int32_t)q[gi * G + i] * wi[g * G + i];
            acc += (double)d[gi] * sw[g] * isum + (double)s[gi] * bw[g];
        }
    }
    return acc;
}
