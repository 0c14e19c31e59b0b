// Dense linear algebra in double precision on top of the LAPACK routines libopenblas exports
// (dgeqrf_/dorgqr_/dgesdd_); used by adapter analysis, not by training. Matrices are
// column-major (LAPACK's order); every buffer's shape is commented as [rows, cols] column-major.
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/// Thin QR of a (m >= n >= 1): a = q·r with q's columns orthonormal and r upper triangular.
/// q: [m, n] col-major, r: [n, n] col-major (zeros below the diagonal), a: [m, n] col-major.
/// Returns 0 on success, the LAPACK info (non-zero) or -1000 on bad sizes / out of memory.
int lk_qr_thin_f64(double *q, double *r, const double *a, int m, int n);

/// Singular value decomposition of a square n×n matrix: a = u·diag(s)·vt, s descending >= 0.
/// s: [n], u: [n, n] col-major, vt: [n, n] col-major, a: [n, n] col-major (not modified).
/// Returns 0 on success, the LAPACK info (non-zero: no convergence) or -1000 on bad sizes / memory.
int lk_svd_square_f64(double *s, double *u, double *vt, const double *a, int n);

#ifdef __cplusplus
}
#endif
