// NEON fp32 dot product (AArch64 only; selected at run time).
#include "lk_dot.h"

#if defined(__aarch64__)
#include <arm_neon.h>
float lk_dot_f32_neon(const float *a, const float *b, size_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}
#else
float lk_dot_f32_neon(const float *a, const float *b, size_t n) { return lk_dot_f32_ref(a, b, n); }
#endif
