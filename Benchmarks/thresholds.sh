#!/usr/bin/env bash
# Regression check of the package-benchmark benchmarks against the stored p90 values in Benchmarks/Thresholds.
#
#   Benchmarks/thresholds.sh check    (make bench)             run the selected benchmarks, fail on a large regression
#   Benchmarks/thresholds.sh update   (make bench-thresholds)  re-measure BENCH_RUNS times, store the per-metric median
#
# Selected: the forward pass and the training step (target Model) and the 2-thread Q4_1 dequantizing products
# (target Kernels). The tolerances live in the benchmark code (Model/Tolerances.swift, Kernels/Matmul.swift):
# time +50%, resident memory +25%, rates −50%. Exit codes of `thresholds check`: 0 within, 2 regression,
# 4 only improvements beyond the tolerance (reported, counted as a pass here).
set -uo pipefail
cd "$(dirname "$0")"
SCRATCH=${BENCH_SCRATCH:-../.build-bench}
FILTER=${BENCH_FILTER:-'(forward|train)-.*|qmatmul-(fwd|bwd_data)-Q4_1-.*-2t'}  # whole-name regex
THRESHOLDS=${BENCH_THRESHOLDS:-$PWD/Thresholds}
TARGETS=(--target Model --target Kernels)

case "${1:-check}" in
check)
    swift package --scratch-path "$SCRATCH" benchmark thresholds check "${TARGETS[@]}" --filter "$FILTER" \
        --path "$THRESHOLDS" --no-progress
    rc=$?
    case $rc in
    0) echo "bench: every metric within its tolerance of Benchmarks/Thresholds" ;;
    4) echo "bench: no regression; some metrics are better than Benchmarks/Thresholds by more than the tolerance" \
            "(refresh them with: make bench-thresholds)"; rc=0 ;;
    2) echo "bench: REGRESSION beyond the tolerance (see 'Deviations worse than threshold' above)" ;;
    *) echo "bench: the benchmark run itself failed (exit $rc)" ;;
    esac
    exit $rc
    ;;
update)
    runs=${BENCH_RUNS:-3}
    tmp=$PWD/.build-thresholds
    rm -rf "$tmp"
    for i in $(seq 1 "$runs"); do
        echo "== thresholds run $i of $runs"
        swift package --scratch-path "$SCRATCH" --allow-writing-to-package-directory benchmark thresholds update \
            "${TARGETS[@]}" --filter "$FILTER" --path "$tmp/run$i" --no-progress || exit $?
    done
    # Per file and metric, the median of the runs' p90 values: one loaded run does not set the bar.
    python3 - "$tmp" "$runs" "$THRESHOLDS" <<'PY' || exit $?
import json, os, statistics, sys
tmp, runs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.makedirs(out, exist_ok=True)
names = sorted(set().union(*(os.listdir(os.path.join(tmp, f"run{i}")) for i in range(1, runs + 1))))
for name in names:
    per_run = [json.load(open(p)) for i in range(1, runs + 1)
               if os.path.exists(p := os.path.join(tmp, f"run{i}", name))]
    merged = {m: int(statistics.median(r[m] for r in per_run if m in r)) for m in sorted(set().union(*per_run))}
    with open(os.path.join(out, name), "w") as f:
        json.dump(merged, f, indent=2, sort_keys=True)
        f.write("\n")
    print(f"{name}: median of {len(per_run)} runs {merged}")
PY
    rm -rf "$tmp"
    ;;
*)
    echo "usage: $0 check|update" >&2
    exit 64
    ;;
esac
