#!/usr/bin/env bash
# Data-parallel throughput on one machine: 1 process × 1 thread, 1 process × 2 threads, 2 MPI ranks × 1 thread,
# the same global batch (8 sequences × SEQ tokens per step: batch 4 × grad-accum 2, or 4 × 1 on each of 2 ranks),
# interleaved per round. Prints the median training tokens/s of steps 2…STEPS per run and the median per setup.
# Usage: scripts/mpi/throughput.sh [ROUNDS=2]   (needs `swift build -c release --product lorakit` and mpirun)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
STEPS=${STEPS:-6}
SEQ=${SEQ:-256}
PRECISION=${PRECISION:-auto}
MODEL=${LORAKIT_MODEL:-$HOME/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf}
BIN=.build/release/lorakit
OUT=$(mktemp -d /tmp/lorakit-mpi-bench-XXXXXX)
trap 'rm -rf "$OUT"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl=self,vader
common=(train --model "$MODEL" --data Examples/data/veloria --steps "$STEPS" --batch-size 4 --seq-len "$SEQ" --rank 8 --alpha 16
        --targets q_proj,v_proj --precision "$PRECISION" --plain --fresh --save-interval 0 --eval-interval 0 --eval-batches 1)
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# Median tokens/s of the steps after the first (global tokens per step / step seconds, as rank 0 measured them).
tps() { grep '"type":"train"' "$1/metrics.jsonl" | tail -n +2 | grep -o '"tokensPerSecond":[0-9.e+]*' | cut -d: -f2 | median; }
declare -A all
for round in $(seq 1 "$ROUNDS"); do
  for setup in "1x1" "1x2" "2x1"; do
    dir="$OUT/$setup-$round"
    case $setup in
      1x1) $BIN "${common[@]}" --out "$dir" --grad-accum 2 --threads 1 >/dev/null ;;
      1x2) $BIN "${common[@]}" --out "$dir" --grad-accum 2 --threads 2 >/dev/null ;;
      2x1) mpirun -np 2 --bind-to core "$BIN" "${common[@]}" --out "$dir" --grad-accum 1 --threads 1 >/dev/null ;;
    esac
    t=$(tps "$dir")
    all[$setup]="${all[$setup]:-} $t"
    printf 'round %d  %-4s (ranks x threads)  %8.1f tokens/s\n' "$round" "$setup" "$t"
  done
done
echo "median over $ROUNDS rounds (load average now: $(cut -d' ' -f1-3 /proc/loadavg)):"
for setup in 1x1 1x2 2x1; do
  printf '  %s  %8.1f tokens/s\n' "$setup" "$(echo ${all[$setup]} | tr ' ' '\n' | median)"
done
