#!/usr/bin/env bash
# Builds scripts/bench/attn_bench.c (build-c-bench.sh) and times causal attention alone, forward and backward, on
# the Llama-3.1-8B shape at seq 2048, SmolLM2's and Gemma 3 270M's at 4 x 256 (random data).
# Usage: scripts/bench/attn-bench.sh [threads=2] [reps=3] [bf16=1]
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${1:-2}
reps=${2:-3}
bf16=${3:-1}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
scripts/bench/build-c-bench.sh scripts/bench/attn_bench.c "$out/attn_bench"
# B S Hq Hkv hd: Llama-3.1-8B at seq 2048, SmolLM2-135M at 4 x 256, Gemma 3 270M at 4 x 256
for shape in "1 2048 32 8 128" "4 256 9 3 64" "4 256 4 1 256"; do
    "$out/attn_bench" $shape "$threads" "$reps" "$bf16"
done
