// Scalar reference of the fp32 dot product: the spec the SIMD versions are tested against.
#include "lk_dot.h"

float lk_dot_f32_ref(const float *a, const float *b, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * (double)b[i];
    return (float)s;
}
