// Thin wrappers over LAPACK (Fortran ABI, as exported by libopenblas): prototypes declared here
// because lapacke.h is not installed everywhere. Integers are LP64 `int` (OpenBLAS's default
// build); character arguments carry gfortran's hidden length arguments at the end.
#include "lk_lapack.h"
#include <stdlib.h>
#include <string.h>
#include <stddef.h>

void dgeqrf_(const int *m, const int *n, double *a, const int *lda, double *tau,
             double *work, const int *lwork, int *info);
void dorgqr_(const int *m, const int *n, const int *k, double *a, const int *lda,
             const double *tau, double *work, const int *lwork, int *info);
void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda,
             double *s, double *u, const int *ldu, double *vt, const int *ldvt,
             double *work, const int *lwork, int *iwork, int *info, size_t jobz_len);

int lk_qr_thin_f64(double *q, double *r, const double *a, int m, int n) {
    if (n < 1 || m < n) return -1000;
    double *tau = malloc(sizeof(double) * (size_t)n);
    if (!tau) return -1000;
    memcpy(q, a, sizeof(double) * (size_t)m * (size_t)n);  // [m, n], factored in place
    int info = 0, lwork = -1;
    double wq = 0;
    dgeqrf_(&m, &n, q, &m, tau, &wq, &lwork, &info);
    int lwork2 = -1;
    double wq2 = 0;
    if (info == 0) dorgqr_(&m, &n, &n, q, &m, tau, &wq2, &lwork2, &info);
    if (info != 0) { free(tau); return info; }
    lwork = (int)(wq > wq2 ? wq : wq2);
    if (lwork < n) lwork = n;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    if (!work) { free(tau); return -1000; }
    dgeqrf_(&m, &n, q, &m, tau, work, &lwork, &info);
    if (info == 0) {
        // r: the upper triangle of the factored matrix; [n, n] col-major.
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++) r[(size_t)j * n + i] = i <= j ? q[(size_t)j * m + i] : 0.0;
        dorgqr_(&m, &n, &n, q, &m, tau, work, &lwork, &info);
    }
    free(work);
    free(tau);
    return info;
}

int lk_svd_square_f64(double *s, double *u, double *vt, const double *a, int n) {
    if (n < 1) return -1000;
    double *acopy = malloc(sizeof(double) * (size_t)n * (size_t)n);  // [n, n], destroyed by dgesdd
    int *iwork = malloc(sizeof(int) * 8 * (size_t)n);
    if (!acopy || !iwork) { free(acopy); free(iwork); return -1000; }
    memcpy(acopy, a, sizeof(double) * (size_t)n * (size_t)n);
    int info = 0, lwork = -1;
    double wq = 0;
    dgesdd_("A", &n, &n, acopy, &n, s, u, &n, vt, &n, &wq, &lwork, iwork, &info, 1);
    if (info != 0) { free(acopy); free(iwork); return info; }
    lwork = (int)wq;
    if (lwork < 1) lwork = 1;
    double *work = malloc(sizeof(double) * (size_t)lwork);
    if (!work) { free(acopy); free(iwork); return -1000; }
    dgesdd_("A", &n, &n, acopy, &n, s, u, &n, vt, &n, work, &lwork, iwork, &info, 1);
    free(work);
    free(acopy);
    free(iwork);
    return info;
}
