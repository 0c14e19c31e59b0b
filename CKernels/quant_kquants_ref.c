// Reference dequantization of the K-quant super-blocks Q4_K and Q6_K (256 elements), with ggml's
// dequantize_row_q4_K / dequantize_row_q6_K semantics and operation order (no fused multiply-add),
// so results match gguf-py bit for bit. Used by every ISA: these types are converted on load.
#include "lk_quant.h"
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static inline float half_at(const uint16_t *p) { uint16_t v; memcpy(&v, p, 2); return lk_fp16_to_fp32(v); }

// Scale and min of sub-block j (0..7) from the 12 packed bytes: 6 bits each.
static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void lk_dequantize_q4_K_ref(float *y, const lk_block_q4_K *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = half_at(&x[i].d), dmin = half_at(&x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int j = 0; j < 4; j++, q += 32) { // 64 elements: sub-blocks 2j (low nibbles) and 2j+1 (high)
            uint8_t sc, m;
            scale_min_k4(2 * j, x[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            scale_min_k4(2 * j + 1, x[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void lk_dequantize_q6_K_ref(float *y, const lk_block_q6_K *x, int64_t nb) {
    for (int64_t i = 0; i < nb; i++) {
        const float d = half_at(&x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int half = 0; half < 2; half++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int)((ql[l] & 0x0f) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int)((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
        }
    }
}
