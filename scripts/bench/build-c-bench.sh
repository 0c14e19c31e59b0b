#!/usr/bin/env bash
# Builds one of the C benches in scripts/bench against all the C kernels (clang -O3, no FP contraction, as the
# package). Usage: scripts/bench/build-c-bench.sh SOURCE.c OUTPUT (from the repository root).
set -euo pipefail
clang -O3 -ffp-contract=off -D_GNU_SOURCE -ICKernels/include -ICKernels CKernels/*.c CKernels/x86/*.c CKernels/arm/*.c \
    "$1" -lopenblas -lnuma -lm -lpthread -o "$2"
