// Umbrella header of the CKernels target: the only place with SIMD.
// Conventions: outputs first in signatures; every buffer's shape is commented as [rows, cols].
#pragma once
#include "lk_cpu.h"
#include "lk_dot.h"
#include "lk_dropout.h"
#include "lk_ops.h"
#include "lk_pool.h"
#include "lk_quant.h"
#include "lk_matmul.h"
#include "lk_matmul_bf16.h"
#include "lk_matmul_int8.h"
#include "lk_decode.h"
#include "lk_lapack.h"
#include "lk_peak.h"
