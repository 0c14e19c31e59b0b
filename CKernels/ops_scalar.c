// Scalar instantiation of the op kernels (LK_ISA_SCALAR, and the fallback when a SIMD level is missing).
#include "ops_internal.h"
#include <math.h>

#define LK_CAT_(a, b) a##b
#define LK_CAT(a, b) LK_CAT_(a, b)
#define LK_FN(name) LK_CAT(name, scalar)
#define LK_TGT
#define V float
#define VL 1
#define VZERO() 0.0f
#define VSET1(x) ((float)(x))
#define VLOAD(p) (*(p))
#define VSTORE(p, v) (*(p) = (v))
#define VADD(a, b) ((a) + (b))
#define VSUB(a, b) ((a) - (b))
#define VMUL(a, b) ((a) * (b))
#define VDIV(a, b) ((a) / (b))
#define VMAX(a, b) ((a) > (b) ? (a) : (b))
#define VFMA(a, b, c) ((a) * (b) + (c))
#define VEXP(x) expf(x)
#define VHSUM(v) (v)
#define VHMAX(v) (v)
#define SEXP(x) expf(x)

#include "ops_rows_tmpl.h"
#include "ops_attention_tmpl.h"
