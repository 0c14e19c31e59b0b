// AVX2+FMA and AVX-512 instantiations of the op kernels (x86-64 only; chosen at run time by lk_ops_table_for).
#include "../ops_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <math.h>

#define LK_CAT_(a, b) a##b
#define LK_CAT(a, b) LK_CAT_(a, b)
#define SEXP(x) expf(x)

// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 (two-part ln 2), exp(r) by the Cephes expf polynomial.
#define LK_EXP_C1 0.693359375f
#define LK_EXP_C2 -2.12194440e-4f
#define LK_EXP_P0 1.9875691500e-4f
#define LK_EXP_P1 1.3981999507e-3f
#define LK_EXP_P2 8.3334519073e-3f
#define LK_EXP_P3 4.1665795894e-2f
#define LK_EXP_P4 1.6666665459e-1f
#define LK_EXP_P5 5.0000001201e-1f

// MARK: - AVX-512

#define LK_TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq")))
static inline LK_TGT __m512 lk_exp512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-104.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LK_EXP_C1), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LK_EXP_C2), r);
    __m512 p = _mm512_set1_ps(LK_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P5));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n); // handles the full exponent range (underflows to 0)
}
#define LK_FN(name) LK_CAT(name, avx512)
#define V __m512
#define VL 16
#define VZERO() _mm512_setzero_ps()
#define VSET1(x) _mm512_set1_ps(x)
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VADD(a, b) _mm512_add_ps((a), (b))
#define VSUB(a, b) _mm512_sub_ps((a), (b))
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#define VDIV(a, b) _mm512_div_ps((a), (b))
#define VMAX(a, b) _mm512_max_ps((a), (b))
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VEXP(x) lk_exp512(x)
#define VHSUM(v) _mm512_reduce_add_ps(v)
#define VHMAX(v) _mm512_reduce_max_ps(v)
#include "../ops_rows_tmpl.h"
#include "../ops_attention_tmpl.h"

// MARK: - AVX512-BF16 attention: the same row kernels, products in bf16 (ops_attention_bf16.h)

#undef LK_TGT
#undef LK_FN
#define LK_TGT __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))
#define LK_FN(name) LK_CAT(name, avx512bf16)
#define LK_ATTN_BF16 1
#include "ops_attention_bf16.h"
#include "../ops_attention_tmpl.h"
#undef LK_ATTN_BF16

const lk_attn_table *lk_attn_bf16_table(void) {
    const int ok = (lk_cpu_features() & LK_CPU_AVX512_BF16) != 0 && lk_isa_supported(LK_ISA_AVX512);
    return ok ? &lk_attn_table_avx512bf16 : NULL;
}

#undef LK_TGT
#undef LK_FN
#undef V
#undef VL
#undef VZERO
#undef VSET1
#undef VLOAD
#undef VSTORE
#undef VADD
#undef VSUB
#undef VMUL
#undef VDIV
#undef VMAX
#undef VFMA
#undef VEXP
#undef VHSUM
#undef VHMAX
#undef LK_U

// MARK: - AVX2 + FMA

#define LK_TGT __attribute__((target("avx2,fma")))
static inline LK_TGT __m256 lk_exp256(__m256 x0) {
    // 2^n is built in the exponent field, so n is kept in [-126, 127]; inputs below -87.3 give exactly 0.
    const __m256 x = _mm256_max_ps(_mm256_min_ps(x0, _mm256_set1_ps(88.3f)), _mm256_set1_ps(-87.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LK_EXP_C1), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LK_EXP_C2), r);
    __m256 p = _mm256_set1_ps(LK_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P5));
    p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    return _mm256_and_ps(y, _mm256_cmp_ps(x0, _mm256_set1_ps(-87.3f), _CMP_GE_OQ));
}
static inline LK_TGT float lk_hsum256(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}
static inline LK_TGT float lk_hmax256(__m256 v) {
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}
#define LK_FN(name) LK_CAT(name, avx2)
#define LK_U 2 // 16 ymm registers: 4x2 accumulators
#define V __m256
#define VL 8
#define VZERO() _mm256_setzero_ps()
#define VSET1(x) _mm256_set1_ps(x)
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VADD(a, b) _mm256_add_ps((a), (b))
#define VSUB(a, b) _mm256_sub_ps((a), (b))
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#define VDIV(a, b) _mm256_div_ps((a), (b))
#define VMAX(a, b) _mm256_max_ps((a), (b))
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VEXP(x) lk_exp256(x)
#define VHSUM(v) lk_hsum256(v)
#define VHMAX(v) lk_hmax256(v)
#include "../ops_rows_tmpl.h"
#include "../ops_attention_tmpl.h"

#endif
