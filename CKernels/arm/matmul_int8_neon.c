// AArch64 NEON version of the int8 products' microkernel, quantizer and backward-data packing (see
// lk_matmul_int8_kernel.h), for CPUs with the dot-product extension (FEAT_DotProd, LK_CPU_NEON_DOTPROD): weights and
// activations both s8 (flip 0), `sdot` by element (vdotq_laneq_s32: 4 columns × 4 k of the strip against 4 k of one
// row) to exact int32 group sums, then the reference's float operations per group, fused like its fmaf. The
// quantizer and packing round with the reference's own trick (v + 1.5·2^23, low mantissa bits, truncated to 8
// bits), so every output is bit-identical to the scalar path (scripts/cross/neon-int8-check.sh, under qemu-user).
#include "../lk_matmul_int8_kernel.h"
#include "lk_matmul_int8.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>

#pragma STDC FP_CONTRACT OFF

#if defined(__clang__)
#define LK_DOTPROD __attribute__((target("dotprod")))
#else // gcc's arm_neon.h declares the dot products under arch=armv8.2-a+dotprod
#define LK_DOTPROD __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

// The 4×4 loops below are unrolled (gcc keeps the arrays in memory otherwise; clang accepts the same pragma).
#define UNROLL _Pragma("GCC unroll 4")

// Four rows × 16 columns (half a strip), 4 k: s[r][v] holds columns 4v..4v+3 of row r, lane L of xq[r] its 4 k.
#define I8_DOT_STEP(W, L)                                                                                        \
    do {                                                                                                         \
        UNROLL for (int v = 0; v < 4; v++)                                                                       \
            UNROLL for (int r = 0; r < 4; r++) s[r][v] = vdotq_laneq_s32(s[r][v], W[v], xq[r], L);                \
    } while (0)

LK_DOTPROD void lk_i8_kernel_neon(float *C, int64_t ldc, const int8_t *const *a, const float *const *ad,
                                  const int8_t *bp, const float *bs, const int32_t *bc, int64_t ng, int G, int mr,
                                  int nr, int add) {
    (void)bc;
    const int8_t *x[4];
    const float *dx[4];
    UNROLL for (int r = 0; r < 4; r++) { // rows past mr repeat row 0 (computed, never stored)
        x[r] = a[r < mr ? r : 0];
        dx[r] = ad[r < mr ? r : 0];
    }
    for (int h = 0; h < 2 && 16 * h < nr; h++) {
        float32x4_t f[4][4];
        UNROLL for (int r = 0; r < 4; r++)
            UNROLL for (int v = 0; v < 4; v++) f[r][v] = vdupq_n_f32(0);
        for (int64_t g = 0; g < ng; g++) {
            int32x4_t s[4][4];
            UNROLL for (int r = 0; r < 4; r++)
                UNROLL for (int v = 0; v < 4; v++) s[r][v] = vdupq_n_s32(0);
            const int8_t *b = bp + g * G * 32 + h * 64;
            for (int k16 = 0; k16 < G / 16; k16++, b += 4 * 128) { // 16 k: 4 strip rows of [32][4]
                int8x16_t xq[4], w[4];
                UNROLL for (int r = 0; r < 4; r++) xq[r] = vld1q_s8(x[r] + g * G + 16 * k16);
                UNROLL for (int v = 0; v < 4; v++) w[v] = vld1q_s8(b + v * 16);
                I8_DOT_STEP(w, 0);
                UNROLL for (int v = 0; v < 4; v++) w[v] = vld1q_s8(b + 128 + v * 16);
                I8_DOT_STEP(w, 1);
                UNROLL for (int v = 0; v < 4; v++) w[v] = vld1q_s8(b + 256 + v * 16);
                I8_DOT_STEP(w, 2);
                UNROLL for (int v = 0; v < 4; v++) w[v] = vld1q_s8(b + 384 + v * 16);
                I8_DOT_STEP(w, 3);
            }
            UNROLL for (int r = 0; r < 4; r++) {
                const float32x4_t d = vdupq_n_f32(dx[r][g]);
                UNROLL for (int v = 0; v < 4; v++) // fma((float)isum, bs·ad, f), as the reference
                    f[r][v] = vfmaq_f32(f[r][v], vcvtq_f32_s32(s[r][v]), vmulq_f32(vld1q_f32(bs + g * 32 + h * 16 + v * 4), d));
            }
        }
        const int n = nr - 16 * h < 16 ? nr - 16 * h : 16;
        for (int r = 0; r < mr; r++) {
            float tmp[16];
            UNROLL for (int v = 0; v < 4; v++) vst1q_f32(tmp + 4 * v, f[r][v]);
            float *y = C + r * ldc + 16 * h;
            for (int j = 0; j < n; j++) y[j] = add ? y[j] + tmp[j] : tmp[j];
        }
    }
}

// lk_i8_round_even on 4 lanes, truncated to 32 bits as the reference's int is: (bits(v + 1.5·2^23) & 0x7fffff) − 2^22.
static inline int32x4_t round_even4(float32x4_t v) {
    const int32x4_t i = vreinterpretq_s32_f32(vaddq_f32(v, vdupq_n_f32(12582912.0f)));
    return vsubq_s32(vandq_s32(i, vdupq_n_s32(0x007fffff)), vdupq_n_s32(0x00400000));
}

// Low bytes of 16 int32 (the reference's (int8_t) conversion).
static inline int8x16_t narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t lo = vcombine_s16(vmovn_s32(a), vmovn_s32(b)), hi = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
    return vcombine_s8(vmovn_s16(lo), vmovn_s16(hi));
}

// The reference's amax / 127 and 1 / d (0 for d = 0); both divisions correctly rounded, as in C.
static inline float group_scale(float amax, float *id) {
    const float d = amax / 127.0f;
    *id = d != 0 ? 1.0f / d : 0.0f;
    return d;
}

void lk_i8_quant_neon(int8_t *q, float *d, int32_t *sum, const float *x, const float *mul, int64_t n, int G, int flip) {
    const int8x16_t fl = vdupq_n_s8((int8_t)flip);
    float scaled[LK_INT8_GROUP];  // groups are at most LK_INT8_GROUP long
    for (int64_t g = 0, k0 = 0; k0 < n; g++, k0 += G) {
        const int64_t len = n - k0 < G ? n - k0 : G, l16 = len / 16 * 16;
        const float *xg = x + k0;
        if (mul) { // x·mul, rounded as the reference rounds it, then the plain path
            for (int64_t i = 0; i < len; i++) scaled[i] = x[k0 + i] * mul[k0 + i];
            xg = scaled;
        }
        float32x4_t m = vdupq_n_f32(0);
        int64_t i = 0;
        for (; i + 4 <= len; i += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(xg + i))); // maxNum ignores NaN, as fmaxf
        float amax = vmaxnmvq_f32(m);
        for (; i < len; i++) amax = fmaxf(amax, fabsf(xg[i]));
        float id;
        d[g] = group_scale(amax, &id);
        const float32x4_t vid = vdupq_n_f32(id);
        int32x4_t acc = vdupq_n_s32(0);
        int32_t s = 0;
        for (i = 0; i < l16; i += 16) {
            const int8x16_t v = narrow16(round_even4(vmulq_f32(vld1q_f32(xg + i), vid)),
                                         round_even4(vmulq_f32(vld1q_f32(xg + i + 4), vid)),
                                         round_even4(vmulq_f32(vld1q_f32(xg + i + 8), vid)),
                                         round_even4(vmulq_f32(vld1q_f32(xg + i + 12), vid)));
            acc = vpadalq_s16(acc, vpaddlq_s8(v));
            vst1q_s8(q + k0 + i, veorq_s8(v, fl));
        }
        s = vaddvq_s32(acc);
        for (; i < len; i++) {
            const int8_t v = (int8_t)lk_i8_round_even(xg[i] * id);
            s += v;
            q[k0 + i] = (int8_t)((uint8_t)v ^ (uint8_t)flip);
        }
        if (sum) sum[g] = 128 * s;
    }
}

void lk_i8_pack_neon(int8_t *bp, float *bs, int32_t *bc, const float *src, int64_t ld, int64_t len) {
    float32x4_t m[8], id[8];
    int32x4_t s[8];
    for (int v = 0; v < 8; v++) { m[v] = vdupq_n_f32(0); s[v] = vdupq_n_s32(0); }
    for (int64_t k = 0; k < len; k++)
        for (int v = 0; v < 8; v++) m[v] = vmaxnmq_f32(m[v], vabsq_f32(vld1q_f32(src + k * ld + 4 * v)));
    for (int v = 0; v < 8; v++) {
        float a[4], d[4], inv[4];
        vst1q_f32(a, m[v]);
        for (int c = 0; c < 4; c++) d[c] = group_scale(a[c], &inv[c]);
        vst1q_f32(bs + 4 * v, vld1q_f32(d));
        id[v] = vld1q_f32(inv);
    }
    for (int64_t k = 0; k < len; k += 4) { // 4 rows → [32 columns][4 rows] bytes: two interleaved stores
        int8x16x4_t lo, hi;
        for (int kk = 0; kk < 4; kk++) {
            const float *row = src + (k + kk) * ld;
            int32x4_t v[8];
            for (int c = 0; c < 8; c++) {
                v[c] = round_even4(vmulq_f32(vld1q_f32(row + 4 * c), id[c]));
                s[c] = vaddq_s32(s[c], v[c]);
            }
            lo.val[kk] = narrow16(v[0], v[1], v[2], v[3]);
            hi.val[kk] = narrow16(v[4], v[5], v[6], v[7]);
        }
        vst4q_s8(bp + (k >> 2) * 128, lo);
        vst4q_s8(bp + (k >> 2) * 128 + 64, hi);
    }
    for (int v = 0; v < 8; v++) vst1q_s32(bc + 4 * v, vmulq_n_s32(s[v], 128));
}
#endif
