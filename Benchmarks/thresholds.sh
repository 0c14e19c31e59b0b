#!/usr/bin/env bash
# Regression check of the package-benchmark benchmarks against the stored p90 values in Benchmarks/Thresholds.
#
#   Benchmarks/thresholds.sh check    (make bench)             run the selected benchmarks, fail on a large regression
#   Benchmarks/thresholds.sh update   (make bench-thresholds)  re-measure BENCH_RUNS times, store the per-metric median
#
# Checked: the target Model (forward pass, training step, Q4_1 dequantizing products on the layer shapes).
# The tolerances live in the benchmark code (Model/Tolerances.swift, Model/KernelProducts.swift):
# time +50%, resident memory +25%. Exit: 0 pass (also when only improvements exceed the tolerance), 2 regression.
set -uo pipefail
cd "$(dirname "$0")"
SCRATCH=${BENCH_SCRATCH:-../.build-bench}
FILTER=${BENCH_FILTER:-'(forward|train|kernel)-.*'}  # matched against whole benchmark names
THRESHOLDS=${BENCH_THRESHOLDS:-$PWD/Thresholds}
TARGETS=(--target Model)

case "${1:-check}" in
check)
    # `swift package` turns the tool's exit codes (2 regression, 4 improvement) into 1, so read its verdict.
    log=$(mktemp)
    swift package --scratch-path "$SCRATCH" benchmark thresholds check "${TARGETS[@]}" --filter "$FILTER" \
        --path "$THRESHOLDS" --no-progress 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    if [ "$rc" -eq 0 ]; then
        echo "bench: PASS, every checked metric within its tolerance of Benchmarks/Thresholds"
    elif grep -q "benchmarkThresholdRegression" "$log"; then
        echo "bench: FAIL, regression beyond the tolerance (see 'Deviations worse than threshold' above)"
        rc=2
    elif grep -q "benchmarkThresholdImprovement" "$log"; then
        echo "bench: PASS, no regression; some metrics are better than Benchmarks/Thresholds by more than the" \
             "tolerance (refresh them with: make bench-thresholds)"
        rc=0
    else
        echo "bench: FAIL, the benchmark run itself failed (exit $rc)"
    fi
    rm -f "$log"
    exit "$rc"
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
    # Times and memory only: package-benchmark 1.38 checks a larger-is-better metric (tokens/s, GFLOP/s) by
    # its slow tail (raw p10) against the stored fast tail (raw p90), so rates are reported, not checked.
    keep = sorted(m for m in set().union(*per_run) if m not in ("tokens/s", "GFLOP/s"))
    merged = {m: int(statistics.median(r[m] for r in per_run if m in r)) for m in keep}
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
