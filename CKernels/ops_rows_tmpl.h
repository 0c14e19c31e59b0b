// Row kernels written once over a small vector vocabulary, included once per ISA (no include guard on purpose).
// The including file defines:
//   LK_FN(name)  name with the ISA suffix appended;     LK_TGT  target attribute (or nothing)
//   V, VL        vector type and its float lane count
//   VZERO() VSET1(x) VLOAD(p) VSTORE(p, v) VADD VSUB VMUL VDIV VMAX VFMA(a, b, c) = a*b + c
//   VEXP(v)      lane-wise exp (|rel err| ~ 1e-7, 0 for very negative inputs)
//   VHSUM(v) VHMAX(v)  horizontal sum / max to a float
//   SEXP(x)      scalar exp used for tails
#include <math.h>

static LK_TGT void LK_FN(rmsnorm_fwd_)(float *y, float *rstd, const float *x, const float *w, int64_t T, int64_t C,
                                       float eps) {
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * C;
        float *yr = y + t * C;
        V a0 = VZERO(), a1 = VZERO();
        int64_t c = 0;
        for (; c + 2 * VL <= C; c += 2 * VL) {
            V x0 = VLOAD(xr + c), x1 = VLOAD(xr + c + VL);
            a0 = VFMA(x0, x0, a0);
            a1 = VFMA(x1, x1, a1);
        }
        for (; c + VL <= C; c += VL) {
            V x0 = VLOAD(xr + c);
            a0 = VFMA(x0, x0, a0);
        }
        double ss = (double)VHSUM(VADD(a0, a1));
        for (; c < C; c++) ss += (double)xr[c] * (double)xr[c];
        const float r = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
        rstd[t] = r;
        const V vr = VSET1(r);
        c = 0;
        for (; c + VL <= C; c += VL) VSTORE(yr + c, VMUL(VMUL(VLOAD(xr + c), vr), VLOAD(w + c)));
        for (; c < C; c++) yr[c] = (xr[c] * r) * w[c];
    }
}

static LK_TGT void LK_FN(rmsnorm_bwd_)(float *dx, const float *dy, const float *x, const float *w, const float *rstd,
                                       int64_t T, int64_t C, int accumulate) {
    for (int64_t t = 0; t < T; t++) {
        const float *xr = x + t * C, *dyr = dy + t * C;
        float *dxr = dx + t * C;
        V a0 = VZERO(), a1 = VZERO();
        int64_t c = 0;
        for (; c + 2 * VL <= C; c += 2 * VL) {
            a0 = VFMA(VMUL(VLOAD(dyr + c), VLOAD(w + c)), VLOAD(xr + c), a0);
            a1 = VFMA(VMUL(VLOAD(dyr + c + VL), VLOAD(w + c + VL)), VLOAD(xr + c + VL), a1);
        }
        for (; c + VL <= C; c += VL) a0 = VFMA(VMUL(VLOAD(dyr + c), VLOAD(w + c)), VLOAD(xr + c), a0);
        double dot = (double)VHSUM(VADD(a0, a1));
        for (; c < C; c++) dot += (double)dyr[c] * (double)w[c] * (double)xr[c];
        const double r = rstd[t];
        const float rf = rstd[t], coef = (float)(r * r * r * dot / (double)C);
        const V vr = VSET1(rf), vc = VSET1(coef);
        c = 0;
        if (accumulate) {
            for (; c + VL <= C; c += VL) {
                V g = VSUB(VMUL(VMUL(VLOAD(dyr + c), VLOAD(w + c)), vr), VMUL(VLOAD(xr + c), vc));
                VSTORE(dxr + c, VADD(VLOAD(dxr + c), g));
            }
            for (; c < C; c++) dxr[c] += dyr[c] * w[c] * rf - xr[c] * coef;
        } else {
            for (; c + VL <= C; c += VL)
                VSTORE(dxr + c, VSUB(VMUL(VMUL(VLOAD(dyr + c), VLOAD(w + c)), vr), VMUL(VLOAD(xr + c), vc)));
            for (; c < C; c++) dxr[c] = dyr[c] * w[c] * rf - xr[c] * coef;
        }
    }
}

static LK_TGT void LK_FN(swiglu_fwd_)(float *h, const float *g, const float *u, int64_t n) {
    const V one = VSET1(1.0f), zero = VZERO();
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V gv = VLOAD(g + i);
        V s = VDIV(one, VADD(one, VEXP(VSUB(zero, gv))));
        VSTORE(h + i, VMUL(VMUL(gv, s), VLOAD(u + i)));
    }
    for (; i < n; i++) {
        float s = 1.0f / (1.0f + SEXP(-g[i]));
        h[i] = g[i] * s * u[i];
    }
}

static LK_TGT void LK_FN(swiglu_bwd_)(float *dg, float *du, const float *dh, const float *g, const float *u,
                                      int64_t n) {
    const V one = VSET1(1.0f), zero = VZERO();
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V gv = VLOAD(g + i), dhv = VLOAD(dh + i);
        V s = VDIV(one, VADD(one, VEXP(VSUB(zero, gv))));
        V dsilu = VMUL(s, VFMA(gv, VSUB(one, s), one)); // s * (1 + g (1 - s))
        VSTORE(du + i, VMUL(dhv, VMUL(gv, s)));
        VSTORE(dg + i, VMUL(VMUL(dhv, VLOAD(u + i)), dsilu));
    }
    for (; i < n; i++) {
        float s = 1.0f / (1.0f + SEXP(-g[i]));
        du[i] = dh[i] * (g[i] * s);
        dg[i] = (dh[i] * u[i]) * (s * (g[i] * (1.0f - s) + 1.0f));
    }
}

// GeGLU: gelu_tanh(g) = g * s, s = sigmoid(2z) = 1 / (1 + exp(-2z)), 2z = 2 sqrt(2/pi) (g + 0.044715 g^3);
// d/dg = s + g s (1 - s) 2 sqrt(2/pi) (1 + 3 * 0.044715 g^2).
#define LK_GELU_2C 1.5957691216057308f // 2 sqrt(2/pi)
#define LK_GELU_2CA 0.0713548162726f   // 2 sqrt(2/pi) * 0.044715
static LK_TGT void LK_FN(geglu_fwd_)(float *h, const float *g, const float *u, int64_t n) {
    const V one = VSET1(1.0f), zero = VZERO(), c1 = VSET1(LK_GELU_2C), c3 = VSET1(LK_GELU_2CA);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V gv = VLOAD(g + i);
        V k = VMUL(gv, VFMA(VMUL(gv, gv), c3, c1)); // 2z
        V s = VDIV(one, VADD(one, VEXP(VSUB(zero, k))));
        VSTORE(h + i, VMUL(VMUL(gv, s), VLOAD(u + i)));
    }
    for (; i < n; i++) {
        const float x = g[i], s = 1.0f / (1.0f + SEXP(-x * (x * x * LK_GELU_2CA + LK_GELU_2C)));
        h[i] = x * s * u[i];
    }
}

static LK_TGT void LK_FN(geglu_bwd_)(float *dg, float *du, const float *dh, const float *g, const float *u,
                                     int64_t n) {
    const V one = VSET1(1.0f), zero = VZERO(), c1 = VSET1(LK_GELU_2C), c3 = VSET1(LK_GELU_2CA),
            c33 = VSET1(3.0f * LK_GELU_2CA);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) {
        V gv = VLOAD(g + i), dhv = VLOAD(dh + i), g2 = VMUL(gv, gv);
        V s = VDIV(one, VADD(one, VEXP(VSUB(zero, VMUL(gv, VFMA(g2, c3, c1))))));
        V dk = VFMA(g2, c33, c1); // d(2z)/dg
        V d = VFMA(VMUL(gv, VMUL(s, VSUB(one, s))), dk, s);
        VSTORE(du + i, VMUL(dhv, VMUL(gv, s)));
        VSTORE(dg + i, VMUL(VMUL(dhv, VLOAD(u + i)), d));
    }
    for (; i < n; i++) {
        const float x = g[i], s = 1.0f / (1.0f + SEXP(-x * (x * x * LK_GELU_2CA + LK_GELU_2C)));
        const float d = x * (s * (1.0f - s)) * (x * x * (3.0f * LK_GELU_2CA) + LK_GELU_2C) + s;
        du[i] = dh[i] * (x * s);
        dg[i] = (dh[i] * u[i]) * d;
    }
}
#undef LK_GELU_2C
#undef LK_GELU_2CA

static LK_TGT float LK_FN(row_max_)(const float *x, int64_t V_) {
    V m0 = VSET1(-INFINITY), m1 = m0;
    int64_t c = 0;
    for (; c + 2 * VL <= V_; c += 2 * VL) {
        m0 = VMAX(m0, VLOAD(x + c));
        m1 = VMAX(m1, VLOAD(x + c + VL));
    }
    for (; c + VL <= V_; c += VL) m0 = VMAX(m0, VLOAD(x + c));
    float m = VHMAX(VMAX(m0, m1));
    for (; c < V_; c++) m = x[c] > m ? x[c] : m;
    return m;
}

/// sum exp(x - m) with float lanes flushed to double every 16 vectors; writes the exps to e when e != NULL.
static LK_TGT double LK_FN(row_sumexp_)(float *e, const float *x, int64_t V_, float m) {
    const V vm = VSET1(m);
    double total = 0.0;
    int64_t c = 0;
    while (c + VL <= V_) {
        V acc = VZERO();
        for (int k = 0; k < 16 && c + VL <= V_; k++, c += VL) {
            V ev = VEXP(VSUB(VLOAD(x + c), vm));
            if (e) VSTORE(e + c, ev);
            acc = VADD(acc, ev);
        }
        total += (double)VHSUM(acc);
    }
    for (; c < V_; c++) {
        float ev = SEXP(x[c] - m);
        if (e) e[c] = ev;
        total += (double)ev;
    }
    return total;
}

static LK_TGT void LK_FN(xent_fwd_bwd_)(float *losses, float *logits, const int32_t *targets, int64_t n, int64_t V_,
                                        float grad_scale) {
    for (int64_t r = 0; r < n; r++) {
        float *x = logits + r * V_;
        const int32_t tg = targets[r];
        if (tg < 0 || (int64_t)tg >= V_) {
            losses[r] = 0.0f;
            for (int64_t c = 0; c < V_; c++) x[c] = 0.0f;
            continue;
        }
        const float m = LK_FN(row_max_)(x, V_);
        const float xt = x[tg];
        const double sum = LK_FN(row_sumexp_)(x, x, V_, m);
        losses[r] = (float)(log(sum) - ((double)xt - (double)m));
        const float f = (float)((double)grad_scale / sum);
        const V vf = VSET1(f);
        int64_t c = 0;
        for (; c + VL <= V_; c += VL) VSTORE(x + c, VMUL(VLOAD(x + c), vf));
        for (; c < V_; c++) x[c] *= f;
        x[tg] -= grad_scale;
    }
}

static LK_TGT void LK_FN(xent_fwd_)(float *losses, const float *logits, const int32_t *targets, int64_t n,
                                    int64_t V_) {
    for (int64_t r = 0; r < n; r++) {
        const float *x = logits + r * V_;
        const int32_t tg = targets[r];
        if (tg < 0 || (int64_t)tg >= V_) {
            losses[r] = 0.0f;
            continue;
        }
        const float m = LK_FN(row_max_)(x, V_);
        const double sum = LK_FN(row_sumexp_)(NULL, x, V_, m);
        losses[r] = (float)(log(sum) - ((double)x[tg] - (double)m));
    }
}

/// One vocabulary panel of the online cross-entropy (see lk_xent_panel_fwd): logits [n, P] (row stride ld) of the
/// classes v0..v0+P fold into each row's running max m, Σ exp(x − m) s and target logit z.
static LK_TGT void LK_FN(xent_panel_fwd_)(float *m, double *s, float *z, const float *logits, int64_t ld,
                                          const int32_t *targets, int64_t n, int64_t v0, int64_t P, int64_t V_) {
    for (int64_t r = 0; r < n; r++) {
        const int32_t tg = targets[r];
        if (tg < 0 || (int64_t)tg >= V_) continue;
        const float *x = logits + r * ld;
        const float pm = LK_FN(row_max_)(x, P);
        if (pm > m[r]) {
            s[r] = s[r] * exp((double)m[r] - (double)pm) + LK_FN(row_sumexp_)(NULL, x, P, pm);
            m[r] = pm;
        } else {
            s[r] += LK_FN(row_sumexp_)(NULL, x, P, m[r]);
        }
        if ((int64_t)tg >= v0 && (int64_t)tg < v0 + P) z[r] = x[tg - v0];
    }
}

/// The gradient of one panel over its logits (see lk_xent_panel_bwd): x ← exp(x − lse)·grad_scale, minus grad_scale
/// at the target; ignored rows all 0.
static LK_TGT void LK_FN(xent_panel_bwd_)(float *logits, int64_t ld, const int32_t *targets, const float *lse, int64_t n,
                                          int64_t v0, int64_t P, int64_t V_, float grad_scale) {
    for (int64_t r = 0; r < n; r++) {
        float *x = logits + r * ld;
        const int32_t tg = targets[r];
        if (tg < 0 || (int64_t)tg >= V_) {
            for (int64_t c = 0; c < P; c++) x[c] = 0.0f;
            continue;
        }
        const V vl = VSET1(lse[r]), vg = VSET1(grad_scale);
        int64_t c = 0;
        for (; c + VL <= P; c += VL) VSTORE(x + c, VMUL(VEXP(VSUB(VLOAD(x + c), vl)), vg));
        for (; c < P; c++) x[c] = SEXP(x[c] - lse[r]) * grad_scale;
        if ((int64_t)tg >= v0 && (int64_t)tg < v0 + P) x[tg - v0] -= grad_scale;
    }
}

static LK_TGT void LK_FN(axpy_)(float *y, float alpha, const float *x, int64_t n) {
    const V va = VSET1(alpha);
    int64_t i = 0;
    for (; i + VL <= n; i += VL) VSTORE(y + i, VFMA(va, VLOAD(x + i), VLOAD(y + i)));
    for (; i < n; i++) y[i] += alpha * x[i];
}
