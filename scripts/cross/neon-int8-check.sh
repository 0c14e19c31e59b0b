#!/usr/bin/env bash
# Builds the int8 products for AArch64 with Debian's cross gcc and runs scripts/cross/neon_int8_check.c under
# qemu-user, twice: on a CPU with the dot-product extension (-cpu max: the NEON kernel "neon-dotprod", bit for bit
# against the scalar path) and on one without (-cpu cortex-a53: the scalar kernel is chosen).
# Needs: apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
aarch64-linux-gnu-gcc -O2 -std=gnu11 -ffp-contract=off -pthread -ICKernels/include -ICKernels \
    CKernels/quant_types.c CKernels/quant_ref.c CKernels/quant_kquants_ref.c CKernels/arm/quant_neon.c CKernels/cpu.c \
    CKernels/matmul_int8.c CKernels/matmul_int8_ref.c CKernels/arm/matmul_int8_neon.c \
    scripts/cross/neon_int8_check.c -lm -o "$out/neon_int8_check"
echo "== qemu-aarch64 -cpu max"
qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu "$out/neon_int8_check" neon-dotprod
echo "== qemu-aarch64 -cpu cortex-a53"
qemu-aarch64 -cpu cortex-a53 -L /usr/aarch64-linux-gnu "$out/neon_int8_check" scalar
