// NEON instantiation of the op kernels (AArch64 only; chosen at run time by lk_ops_table_for).
#include "../ops_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#include <math.h>

#define LK_CAT_(a, b) a##b
#define LK_CAT(a, b) LK_CAT_(a, b)
#define SEXP(x) expf(x)
#define LK_TGT

// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2, exp(r) by the Cephes expf polynomial;
// n kept in [-126, 127] (2^n built in the exponent field); inputs below -87.3 give exactly 0.
static inline float32x4_t lk_exp_neon(float32x4_t x0) {
    const float32x4_t x = vmaxq_f32(vminq_f32(x0, vdupq_n_f32(88.3f)), vdupq_n_f32(-87.3f));
    const int32x4_t ni = vcvtnq_s32_f32(vmulq_f32(x, vdupq_n_f32(1.44269504088896341f)));
    const float32x4_t n = vcvtq_f32_s32(ni);
    float32x4_t r = vfmsq_f32(x, n, vdupq_n_f32(0.693359375f));
    r = vfmsq_f32(r, n, vdupq_n_f32(-2.12194440e-4f));
    float32x4_t p = vdupq_n_f32(1.9875691500e-4f);
    p = vfmaq_f32(vdupq_n_f32(1.3981999507e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(8.3334519073e-3f), p, r);
    p = vfmaq_f32(vdupq_n_f32(4.1665795894e-2f), p, r);
    p = vfmaq_f32(vdupq_n_f32(1.6666665459e-1f), p, r);
    p = vfmaq_f32(vdupq_n_f32(5.0000001201e-1f), p, r);
    p = vfmaq_f32(vaddq_f32(r, vdupq_n_f32(1.0f)), p, vmulq_f32(r, r));
    const int32x4_t e = vshlq_n_s32(vaddq_s32(ni, vdupq_n_s32(127)), 23);
    const float32x4_t y = vmulq_f32(p, vreinterpretq_f32_s32(e));
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(y), vcgeq_f32(x0, vdupq_n_f32(-87.3f))));
}
#define LK_FN(name) LK_CAT(name, neon)
#define V float32x4_t
#define VL 4
#define VZERO() vdupq_n_f32(0.0f)
#define VSET1(x) vdupq_n_f32(x)
#define VLOAD(p) vld1q_f32(p)
#define VSTORE(p, v) vst1q_f32((p), (v))
#define VADD(a, b) vaddq_f32((a), (b))
#define VSUB(a, b) vsubq_f32((a), (b))
#define VMUL(a, b) vmulq_f32((a), (b))
#define VDIV(a, b) vdivq_f32((a), (b))
#define VMAX(a, b) vmaxq_f32((a), (b))
#define VFMA(a, b, c) vfmaq_f32((c), (a), (b))
#define VEXP(x) lk_exp_neon(x)
#define VHSUM(v) vaddvq_f32(v)
#define VHMAX(v) vmaxvq_f32(v)
#include "../ops_rows_tmpl.h"
#include "../ops_attention_tmpl.h"

#endif
