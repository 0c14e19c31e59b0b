// Attention kernels written once over the vector vocabulary of ops_rows_tmpl.h, included once per ISA.
// Scores are computed against transposed, zero-padded keys (kt: [hd, Sp] per head) so that 64 scores at a time
// are plain vector FMAs over hd (no horizontal sums); weighted sums over v / k / q / dout rows accumulate hd-wide
// vectors in registers. Four rows are handled at a time (register tiles of 4 rows x LK_U vectors). Memory per thread:
// 8*Sp + 4*hd floats.

#include <string.h>

#ifndef LK_U
#define LK_U 4 // vectors per register tile column (4 rows x LK_U accumulators)
#endif

// Products of the row kernels. fp32: tdots4_/wsum4_ below on the transposed copies and the input rows. With
// LK_ATTN_BF16 the including file defines tdots4p_/wsum4p_ over the bf16 pair layouts of lk_attn_args instead.
//   LK_ATT_TDOTS(dst, x, op, head, j0, j1): dst[r*Sp + j] = x[r] . (row j of operand `op`, head `head`)
//   LK_ATT_WSUM(dst, w, op, rows, stride, head, start, n, alpha, acc): dst[r] (+)= alpha[r] * sum_{j in [start,
//   start+n)} w[r*Sp + j] * row j (fp32 rows: `rows` with row stride `stride`; bf16: pairs `op##p`). With bf16 the
//   w rows are rounded in place (they are not read again) and w[start+n] must be 0 when n is odd.
#ifdef LK_ATTN_BF16
#define LK_ATT_TDOTS(dst, x, op, head, j0, j1) LK_FN(tdots4p_)(dst, Sp, x, a->op##p + (head) * (hd / 2) * Sp, Sp, hd, j0, j1)
#define LK_ATT_WSUM(dst, w, op, rows, stride, head, start, n, alpha, acc)                                            \
    LK_FN(wsum4p_)(dst, w, Sp, a->op##p + (head) * (Sp / 2) * hd, start, n, hd, alpha, acc)
#else
#define LK_ATT_TDOTS(dst, x, op, head, j0, j1) LK_FN(tdots4_)(dst, Sp, x, a->op + (head) * hd * Sp, Sp, hd, j0, j1)
#define LK_ATT_WSUM(dst, w, op, rows, stride, head, start, n, alpha, acc)                                            \
    LK_FN(wsum4_)(dst, (w) + (start), Sp, (rows) + (start) * (stride), stride, n, hd, alpha, acc)

/// Four rows of scores at once: dst[r*dstride + j] = sum_d x[r][d] * xt[d*Sp + j] for r < 4, j in [j0, j1)
/// (j0, j1 multiples of 16, j1 <= Sp). Each column load of xt feeds four FMAs.
static LK_TGT void LK_FN(tdots4_)(float *dst, int64_t dstride, const float *const x[4], const float *xt, int64_t Sp,
                                  int64_t hd, int64_t j0, int64_t j1) {
    const float *x0 = x[0], *x1 = x[1], *x2 = x[2], *x3 = x[3];
    int64_t j = j0;
    for (; j + LK_U * VL <= j1; j += LK_U * VL) {
        V a0[LK_U], a1[LK_U], a2[LK_U], a3[LK_U];
        for (int u = 0; u < LK_U; u++) a0[u] = a1[u] = a2[u] = a3[u] = VZERO();
        const float *col = xt + j;
        for (int64_t d = 0; d < hd; d++, col += Sp) {
            const V b0 = VSET1(x0[d]), b1 = VSET1(x1[d]), b2 = VSET1(x2[d]), b3 = VSET1(x3[d]);
            for (int u = 0; u < LK_U; u++) {
                const V c = VLOAD(col + u * VL);
                a0[u] = VFMA(b0, c, a0[u]);
                a1[u] = VFMA(b1, c, a1[u]);
                a2[u] = VFMA(b2, c, a2[u]);
                a3[u] = VFMA(b3, c, a3[u]);
            }
        }
        for (int u = 0; u < LK_U; u++) {
            VSTORE(dst + j + u * VL, a0[u]);
            VSTORE(dst + dstride + j + u * VL, a1[u]);
            VSTORE(dst + 2 * dstride + j + u * VL, a2[u]);
            VSTORE(dst + 3 * dstride + j + u * VL, a3[u]);
        }
    }
    for (; j < j1; j += VL) {
        V a0 = VZERO(), a1 = VZERO(), a2 = VZERO(), a3 = VZERO();
        const float *col = xt + j;
        for (int64_t d = 0; d < hd; d++, col += Sp) {
            const V c = VLOAD(col);
            a0 = VFMA(VSET1(x0[d]), c, a0);
            a1 = VFMA(VSET1(x1[d]), c, a1);
            a2 = VFMA(VSET1(x2[d]), c, a2);
            a3 = VFMA(VSET1(x3[d]), c, a3);
        }
        VSTORE(dst + j, a0);
        VSTORE(dst + dstride + j, a1);
        VSTORE(dst + 2 * dstride + j, a2);
        VSTORE(dst + 3 * dstride + j, a3);
    }
}

/// Four weighted row sums at once: dst[r][d] = (accumulate ? dst[r][d] : 0) + alpha[r] * sum_{j<n} w[r*wstride + j]
/// * rows[j*stride + d], r < 4, d < hd. Each row load feeds four FMAs.
static LK_TGT void LK_FN(wsum4_)(float *const dst[4], const float *w, int64_t wstride, const float *rows, int64_t stride,
                                 int64_t n, int64_t hd, const float alpha[4], int accumulate) {
    const float *w0 = w, *w1 = w + wstride, *w2 = w + 2 * wstride, *w3 = w + 3 * wstride;
    int64_t d = 0;
    for (; d + LK_U * VL <= hd; d += LK_U * VL) {
        V a0[LK_U], a1[LK_U], a2[LK_U], a3[LK_U];
        for (int u = 0; u < LK_U; u++) a0[u] = a1[u] = a2[u] = a3[u] = VZERO();
        const float *r = rows + d;
        for (int64_t j = 0; j < n; j++, r += stride) {
            const V b0 = VSET1(w0[j]), b1 = VSET1(w1[j]), b2 = VSET1(w2[j]), b3 = VSET1(w3[j]);
            for (int u = 0; u < LK_U; u++) {
                const V c = VLOAD(r + u * VL);
                a0[u] = VFMA(b0, c, a0[u]);
                a1[u] = VFMA(b1, c, a1[u]);
                a2[u] = VFMA(b2, c, a2[u]);
                a3[u] = VFMA(b3, c, a3[u]);
            }
        }
        V *acc[4] = {a0, a1, a2, a3};
        for (int k = 0; k < 4; k++) {
            const V va = VSET1(alpha[k]);
            for (int u = 0; u < LK_U; u++) {
                float *o = dst[k] + d + u * VL;
                const V y = VMUL(acc[k][u], va);
                VSTORE(o, accumulate ? VADD(VLOAD(o), y) : y);
            }
        }
    }
    for (; d + VL <= hd; d += VL) {
        V a[4] = {VZERO(), VZERO(), VZERO(), VZERO()};
        const float *r = rows + d;
        for (int64_t j = 0; j < n; j++, r += stride) {
            const V c = VLOAD(r);
            a[0] = VFMA(VSET1(w0[j]), c, a[0]);
            a[1] = VFMA(VSET1(w1[j]), c, a[1]);
            a[2] = VFMA(VSET1(w2[j]), c, a[2]);
            a[3] = VFMA(VSET1(w3[j]), c, a[3]);
        }
        for (int k = 0; k < 4; k++) {
            const V y = VMUL(a[k], VSET1(alpha[k]));
            VSTORE(dst[k] + d, accumulate ? VADD(VLOAD(dst[k] + d), y) : y);
        }
    }
    for (; d < hd; d++) {
        float a[4] = {0, 0, 0, 0};
        const float *r = rows + d;
        for (int64_t j = 0; j < n; j++, r += stride) {
            a[0] += w0[j] * *r;
            a[1] += w1[j] * *r;
            a[2] += w2[j] * *r;
            a[3] += w3[j] * *r;
        }
        for (int k = 0; k < 4; k++) dst[k][d] = (accumulate ? dst[k][d] : 0.0f) + a[k] * alpha[k];
    }
}

#endif // LK_ATTN_BF16

/// p[j] = exp(s[j]*scale - lse[j]) and ds[j] = p[j] * (dp[j] - delta[j]) in place over [j0, j1) (multiples of VL);
/// lse and delta are per j when per_j, else broadcast from lse[0], delta[0].
static LK_TGT void LK_FN(attn_p_ds_)(float *s, float *dp, const float *lse, const float *delta, int per_j, float scale,
                                     int64_t j0, int64_t j1) {
    const V vs = VSET1(scale);
    V vl = VSET1(lse[0]), vd = VSET1(delta[0]);
    for (int64_t j = j0; j < j1; j += VL) {
        if (per_j) vl = VLOAD(lse + j), vd = VLOAD(delta + j);
        V p = VEXP(VSUB(VMUL(VLOAD(s + j), vs), vl));
        VSTORE(s + j, p);
        VSTORE(dp + j, VMUL(p, VSUB(VLOAD(dp + j), vd)));
    }
}

// Per-thread scratch layout (LK_ATTN_THREAD_FLOATS(Sp, hd)): two [4, Sp] tiles, then a [4, hd] sink for the
// outputs of missing rows in a short last block.
static inline void LK_FN(attn_block_)(int64_t nr, float *sink, int64_t hd, float *rowp[4], float *base,
                                      int64_t step) {
    for (int r = 0; r < 4; r++) rowp[r] = r < nr ? base + r * step : sink + r * hd;
}

/// First keys of rows i..i+nr-1 (lo[r] for r < nr) and the 16-aligned column the four rows' scores start at.
static inline int64_t LK_FN(attn_row_lo_)(const lk_attn_args *a, int64_t b, int64_t i, int64_t nr, int64_t lo[4]) {
    int64_t m = INT64_MAX;
    for (int64_t r = 0; r < 4; r++) {
        lo[r] = r < nr ? lk_attn_first_key(a->first_key, b, a->S, i + r) : 0;
        if (r < nr && lo[r] < m) m = lo[r];
    }
    return m / 16 * 16;
}

static LK_TGT void LK_FN(attn_fwd_rows_)(const lk_attn_args *a, float *scratch, int64_t b, int64_t h, int64_t i0,
                                         int64_t i1) {
    const int64_t S = a->S, Sp = a->Sp, hd = a->hd, G = a->Hq / a->Hkv, kh = h / G;
    const int64_t qs = a->Hq * hd, ks = a->Hkv * hd;
    const int64_t bkh = b * a->Hkv + kh;
    const float *vrows = a->v + b * S * ks + kh * hd;
    float *s = scratch, *sink = scratch + 8 * Sp;
    for (int64_t i = i0; i < i1; i += 4) {
        const int64_t nr = i1 - i < 4 ? i1 - i : 4, jmax = i + nr, j1 = (jmax + 15) / 16 * 16;
        int64_t lo[4];
        const int64_t j0 = LK_FN(attn_row_lo_)(a, b, i, nr, lo); // keys before j0 are masked for all four rows
        const float *x[4];
        for (int r = 0; r < 4; r++) x[r] = a->q + (b * S + i + (r < nr ? r : nr - 1)) * qs + h * hd;
        LK_ATT_TDOTS(s, x, kt, bkh, j0, j1);
        float alpha[4] = {0, 0, 0, 0};
        for (int64_t r = 0; r < 4; r++) {
            float *sr = s + r * Sp;
            if (r >= nr) {
                for (int64_t j = j0; j < j1; j++) sr[j] = 0.0f;
                continue;
            }
            const int64_t n = i + r + 1;
            for (int64_t j = j0; j < lo[r]; j++) sr[j] = -INFINITY; // keys of earlier segments (or out of window)
            const V vs = VSET1(a->scale);
            V vm = VSET1(-INFINITY);
            int64_t j = j0;
            for (; j + VL <= n; j += VL) {
                V y = VMUL(VLOAD(sr + j), vs);
                VSTORE(sr + j, y);
                vm = VMAX(vm, y);
            }
            float m = VHMAX(vm);
            for (; j < n; j++) {
                sr[j] *= a->scale;
                m = sr[j] > m ? sr[j] : m;
            }
            for (; j < j1; j++) sr[j] = -INFINITY;
            const V vmax = VSET1(m);
            double l = 0.0;
            for (j = j0; j < j1;) {
                V acc = VZERO();
                for (int k = 0; k < 16 && j < j1; k++, j += VL) {
                    V e = VEXP(VSUB(VLOAD(sr + j), vmax));
                    VSTORE(sr + j, e);
                    acc = VADD(acc, e);
                }
                l += (double)VHSUM(acc);
            }
            for (j = n; j < j1; j++) l -= (double)sr[j], sr[j] = 0.0f; // drop exp(-inf) residue exactly
            for (j = j0; j < lo[r]; j++) l -= (double)sr[j], sr[j] = 0.0f;
            alpha[r] = (float)(1.0 / l);
            a->lse[(b * a->Hq + h) * S + i + r] = (float)((double)m + log(l));
        }
        float *o[4];
        LK_FN(attn_block_)(nr, sink, hd, o, a->out + (b * S + i) * qs + h * hd, qs);
        LK_ATT_WSUM(o, s, v, vrows, ks, bkh, j0, jmax - j0, alpha, 0);
    }
}

static LK_TGT void LK_FN(attn_bwd_dq_rows_)(const lk_attn_args *a, float *scratch, int64_t b, int64_t h, int64_t i0,
                                            int64_t i1) {
    const int64_t S = a->S, Sp = a->Sp, hd = a->hd, G = a->Hq / a->Hkv, kh = h / G;
    const int64_t qs = a->Hq * hd, ks = a->Hkv * hd;
    const int64_t bkh = b * a->Hkv + kh;
    const float *krows = a->k + b * S * ks + kh * hd;
    const float *lsep = a->lsep + (b * a->Hq + h) * Sp, *delta = a->delta + (b * a->Hq + h) * Sp;
    float *s = scratch, *dp = scratch + 4 * Sp, *sink = scratch + 8 * Sp;
    const float alpha[4] = {a->scale, a->scale, a->scale, a->scale};
    for (int64_t i = i0; i < i1; i += 4) {
        const int64_t nr = i1 - i < 4 ? i1 - i : 4, jmax = i + nr, j1 = (jmax + 15) / 16 * 16;
        int64_t lo[4];
        const int64_t j0 = LK_FN(attn_row_lo_)(a, b, i, nr, lo);
        const float *xq[4], *xd[4];
        for (int r = 0; r < 4; r++) {
            const int64_t row = b * S + i + (r < nr ? r : nr - 1);
            xq[r] = a->q + row * qs + h * hd;
            xd[r] = a->dout + row * qs + h * hd;
        }
        // ds rows: stored by the dk/dv pass (the same products, bitwise; one 64-byte line per 4 queries x 4 keys,
        // entries it did not write are masked below) or computed here
        float *ds = dp;
        if (a->dsbuf) {
            const float *src = a->dsbuf + ((b * a->Hkv + kh - a->ds_first) * G + h - kh * G) * Sp * Sp;
            for (int64_t jg = j0 / 4; jg < j1 / 4; jg++) {
                const float *line = src + (jg * Sp + i) * 4;
                for (int r = 0; r < 4; r++) memcpy(ds + r * Sp + 4 * jg, line + 4 * r, 4 * sizeof(float));
            }
        } else {
            LK_ATT_TDOTS(s, xq, kt, bkh, j0, j1);
            LK_ATT_TDOTS(dp, xd, vt, bkh, j0, j1);
        }
        for (int64_t r = 0; r < 4; r++) {
            float *dsr = ds + r * Sp;
            const int64_t n = r < nr ? i + r + 1 : j0;
            if (r < nr && !a->dsbuf)
                LK_FN(attn_p_ds_)(s + r * Sp, dsr, lsep + i + r, delta + i + r, 0, a->scale, j0, j1);
            for (int64_t j = j0; j < lo[r]; j++) dsr[j] = 0.0f;
            for (int64_t j = n; j < j1; j++) dsr[j] = 0.0f;
        }
        float *o[4];
        LK_FN(attn_block_)(nr, sink, hd, o, a->dq + (b * S + i) * qs + h * hd, qs);
        LK_ATT_WSUM(o, ds, k, krows, ks, bkh, j0, jmax - j0, alpha, 0);
    }
}

static LK_TGT void LK_FN(attn_bwd_dkv_rows_)(const lk_attn_args *a, float *scratch, int64_t b, int64_t kh, int64_t j0,
                                             int64_t j1) {
    const int64_t S = a->S, Sp = a->Sp, hd = a->hd, G = a->Hq / a->Hkv;
    const int64_t qs = a->Hq * hd, ks = a->Hkv * hd;
    float *p = scratch, *ds = scratch + 4 * Sp, *sink = scratch + 8 * Sp;
    const float ak[4] = {a->scale, a->scale, a->scale, a->scale}, av[4] = {1.0f, 1.0f, 1.0f, 1.0f};
    // Heads outer, 4-key groups inner: one head's transposed q and dout stay in cache across the unit's keys.
    // Each key still sums its heads in order g = 0..G-1.
    for (int64_t g = 0; g < G; g++) {
        const int64_t h = kh * G + g;
        const int64_t bh = b * a->Hq + h;
        const float *lsep = a->lsep + (b * a->Hq + h) * Sp, *delta = a->delta + (b * a->Hq + h) * Sp;
        int64_t end = 0;
        for (int64_t j = j0; j < j1; j += 4) {
            const int64_t nr = j1 - j < 4 ? j1 - j : 4, i0 = j / 16 * 16;
            // valid queries for key j+r: i in [j+r, hi[r]) (the rest of its segment or window); hmax: the group's
            int64_t hi[4], hmax = j + 1;
            for (int64_t r = 0; r < 4; r++) {
                if (r < nr) end = lk_attn_last_query_end(a->first_key, b, S, j + r, end);
                hi[r] = r < nr ? end : Sp;
                if (r < nr && end > hmax) hmax = end;
            }
            const int64_t iend = (hmax + 15) / 16 * 16;
            const float *xk[4], *xv[4];
            for (int r = 0; r < 4; r++) {
                const int64_t row = b * S + j + (r < nr ? r : nr - 1);
                xk[r] = a->k + row * ks + kh * hd;
                xv[r] = a->v + row * ks + kh * hd;
            }
            float *dk[4], *dv[4];
            LK_FN(attn_block_)(nr, sink, hd, dk, a->dk + (b * S + j) * ks + kh * hd, ks);
            LK_FN(attn_block_)(nr, sink, hd, dv, a->dv + (b * S + j) * ks + kh * hd, ks);
            LK_ATT_TDOTS(p, xk, qt, bh, i0, iend);
            LK_ATT_TDOTS(ds, xv, dot, bh, i0, iend);
            for (int64_t r = 0; r < 4; r++) {
                float *pr = p + r * Sp, *dsr = ds + r * Sp;
                const int64_t lo = r < nr ? j + r : iend, up = r < nr ? hi[r] : iend;
                if (r < nr) LK_FN(attn_p_ds_)(pr, dsr, lsep, delta, 1, a->scale, i0, iend);
                for (int64_t i = i0; i < lo; i++) pr[i] = dsr[i] = 0.0f;
                for (int64_t i = up; i < iend; i++) pr[i] = dsr[i] = 0.0f;
            }
            if (a->dsbuf) { // ds for the dq pass: [.., G, Sp/4 key groups, Sp queries, 4 keys], queries [i0, iend)
                float *dst = a->dsbuf + (((b * a->Hkv + kh - a->ds_first) * G + g) * Sp + j) * Sp;
                for (int64_t i = i0; i < iend; i++)
                    for (int64_t r = 0; r < 4; r++) dst[i * 4 + r] = ds[r * Sp + i];
            }
            // query rows i in [j, hmax) of sequence b, head h
            const float *qrows = a->q + b * S * qs + h * hd, *drows = a->dout + b * S * qs + h * hd;
            LK_ATT_WSUM(dk, ds, q, qrows, qs, bh, j, hmax - j, ak, g > 0);
            LK_ATT_WSUM(dv, p, do, drows, qs, bh, j, hmax - j, av, g > 0);
        }
    }
}

#undef LK_ATT_TDOTS
#undef LK_ATT_WSUM

#ifdef LK_ATTN_BF16
const lk_attn_table LK_FN(lk_attn_table_) = {LK_FN(attn_fwd_rows_), LK_FN(attn_bwd_dq_rows_), LK_FN(attn_bwd_dkv_rows_),
                                             LK_FN(pairs_t_), LK_FN(pairs_r_)};
#else
const lk_ops_table LK_FN(lk_ops_table_) = {
    LK_FN(rmsnorm_fwd_),      LK_FN(rmsnorm_bwd_),      LK_FN(swiglu_fwd_),
    LK_FN(swiglu_bwd_),       LK_FN(xent_fwd_bwd_),     LK_FN(xent_fwd_),
    LK_FN(axpy_),             LK_FN(attn_fwd_rows_),    LK_FN(attn_bwd_dq_rows_),
    LK_FN(attn_bwd_dkv_rows_), LK_FN(geglu_fwd_),       LK_FN(geglu_bwd_),
    LK_FN(xent_panel_fwd_),   LK_FN(xent_panel_bwd_),
};
#endif
