#!/usr/bin/env bash
# Builds scripts/bench/int8_bench.c (build-c-bench.sh) and times the int8 products alone on the
# Llama-3.1-8B and SmolLM2 layer shapes (Q4_0 weights, random data).
# Usage: scripts/bench/int8-bench.sh [threads=2] [reps=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
reps=${2:-3}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
scripts/bench/build-c-bench.sh scripts/bench/int8_bench.c "$out/int8_bench"
# out in T bwd: the 8B's q/o, gate/up, down at seq 2048, then SmolLM2's q/o, gate/up, down at 4 x 256
for shape in "4096 4096 2048" "14336 4096 2048" "4096 14336 2048" "576 576 1024" "1536 576 1024" "576 1536 1024"; do
    for bwd in 0 1; do "$out/int8_bench" $shape $bwd "$threads" "$reps"; done
done
