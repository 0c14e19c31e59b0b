// AdamW step with PyTorch's semantics (decoupled weight decay, bias corrections).
#include "ops_internal.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/// The shortest decimal that rounds to f, as a double (0.999f -> 0.999): hyperparameters arrive as floats but were
/// written as decimals (Python floats in PyTorch), and 1 - beta2 differs by 1e-5 relative between the two readings.
static double decimal_of(float f) {
    char buf[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        const double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

// Mirrors torch.optim.AdamW's single-tensor update: the step-dependent scalars are computed in double
// (Python floats there), the per-element math in float in the same order (lerp, addcmul, addcdiv).
void lk_adamw_step(float *param, float *m, float *v, const float *grad, int64_t n, float lr, float beta1, float beta2,
                   float eps, float weight_decay, int64_t step, float grad_scale) {
    const double LR = decimal_of(lr), B1 = decimal_of(beta1), B2 = decimal_of(beta2);
    const double EPS = decimal_of(eps), WD = decimal_of(weight_decay);
    const double bc1 = 1.0 - pow(B1, (double)step), bc2 = 1.0 - pow(B2, (double)step);
    const float decay = (float)(1.0 - LR * WD);
    const float neg_step_size = (float)(-(LR / bc1));
    const float bc2_sqrt = (float)sqrt(bc2), epsf = (float)EPS;
    const float w1 = (float)(1.0 - B1), b2 = (float)B2, w2 = (float)(1.0 - B2);
    for (int64_t i = 0; i < n; i++) {
        const float g = grad[i] * grad_scale;
        const float p = param[i] * decay;
        const float mi = w1 < 0.5f ? m[i] + w1 * (g - m[i]) : g - (g - m[i]) * (1.0f - w1); // m.lerp_(g, 1 - b1)
        const float vi = v[i] * b2 + w2 * g * g;                                              // v.mul_(b2).addcmul_
        m[i] = mi;
        v[i] = vi;
        const float denom = sqrtf(vi) / bc2_sqrt + epsf;
        param[i] = p + neg_step_size * mi / denom;
    }
}
