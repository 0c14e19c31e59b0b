#!/usr/bin/env bash
# Builds the int8 products for AArch64 with Debian's cross gcc and runs scripts/cross/neon_int8_check.c under
# qemu-user, twice: on a CPU with the dot-product extension (-cpu max: the NEON kernel "neon-dotprod", bit for bit
# against the scalar path) and on one without (-cpu cortex-a53: the scalar kernel is chosen). With CLANG=<clang>
# (e.g. the Swift toolchain's /opt/swift/usr/bin/clang, the compiler SwiftPM uses) the same again with the sources
# compiled by clang --target=aarch64-linux-gnu (linked by the cross gcc).
# Needs: apt-get install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
srcs=(CKernels/quant_types.c CKernels/quant_ref.c CKernels/quant_kquants_ref.c CKernels/arm/quant_neon.c CKernels/cpu.c
      CKernels/matmul_int8.c CKernels/matmul_int8_ref.c CKernels/arm/matmul_int8_neon.c scripts/cross/neon_int8_check.c)
flags=(-O2 -std=gnu11 -D_GNU_SOURCE -ICKernels/include -ICKernels)
run() {
    echo "== $1, qemu-aarch64 -cpu max"
    qemu-aarch64 -cpu max -L /usr/aarch64-linux-gnu "$2" neon-dotprod
    echo "== $1, qemu-aarch64 -cpu cortex-a53"
    qemu-aarch64 -cpu cortex-a53 -L /usr/aarch64-linux-gnu "$2" scalar
}
aarch64-linux-gnu-gcc "${flags[@]}" -ffp-contract=off "${srcs[@]}" -lm -o "$out/check-gcc"
run "aarch64-linux-gnu-gcc" "$out/check-gcc"
if [ -n "${CLANG:-}" ]; then
    objs=()
    for f in "${srcs[@]}"; do
        o="$out/$(basename "$f" .c).o"
        "$CLANG" --target=aarch64-linux-gnu "${flags[@]}" -c "$f" -o "$o"
        objs+=("$o")
    done
    aarch64-linux-gnu-gcc "${objs[@]}" -lm -o "$out/check-clang"
    run "$CLANG --target=aarch64-linux-gnu" "$out/check-clang"
fi
