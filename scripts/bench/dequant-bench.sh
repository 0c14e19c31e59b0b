#!/usr/bin/env bash
# Builds scripts/bench/dequant_bench.c against the block-format kernels (clang -O2, no FP contraction) and runs it.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
clang -O2 -ffp-contract=off -ICKernels/include -ICKernels CKernels/quant_types.c CKernels/quant_ref.c \
    CKernels/quant_kquants_ref.c CKernels/x86/quant_avx.c CKernels/cpu.c scripts/bench/dequant_bench.c -lm -o "$out/dq"
"$out/dq"
rm -rf "$out"
