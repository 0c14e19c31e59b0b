#!/usr/bin/env bash
# Builds the block-format kernels for AArch64 with Debian's cross gcc and runs scripts/cross/neon_check.c under
# qemu-user: every NEON dequantization kernel bit for bit against the scalar reference.
# Needs: apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
aarch64-linux-gnu-gcc -O2 -std=gnu11 -ffp-contract=off -ICKernels/include -ICKernels \
    CKernels/quant_types.c CKernels/quant_ref.c CKernels/quant_kquants_ref.c CKernels/arm/quant_neon.c CKernels/cpu.c \
    scripts/cross/neon_check.c -lm -o "$out/neon_check"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$out/neon_check"
rm -rf "$out"
