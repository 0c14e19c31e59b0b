#!/usr/bin/env python3
"""Loss curves of `lorakit train` runs that differ only in --precision, side by side.

Usage: scripts/bench/precision-curves.py OUT.csv fp32=RUN_DIR bf16=RUN_DIR int8=RUN_DIR ...
The first run is the reference. Writes OUT.csv (step, train loss per run, then validation losses at their steps)
and prints a markdown table: per run, max and mean |Δ| of the train loss against the reference, the largest
relative |Δ| while the reference loss is above 0.5 (relative differences of near-zero losses mean nothing), and
the first and last validation losses. Standard library only.
"""
import csv
import importlib.util
import os
import sys


def load(path):
    """(train loss by step, validation loss by step) of a run: compare-curves.py's reader."""
    spec = importlib.util.spec_from_file_location("compare_curves", os.path.join(os.path.dirname(__file__), "compare-curves.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(path)


def main():
    if len(sys.argv) < 4 or any("=" not in a for a in sys.argv[2:]):
        sys.exit(__doc__)
    runs = [(a.split("=", 1)[0], load(a.split("=", 1)[1])) for a in sys.argv[2:]]
    ref_name, (ref, ref_eval) = runs[0]
    steps = sorted(set.intersection(*(set(s) for _, (s, _) in runs)))
    evals = sorted(set.intersection(*(set(e) for _, (_, e) in runs)))
    with open(sys.argv[1], "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step"] + [f"train_{n}" for n, _ in runs] + [f"valid_{n}" for n, _ in runs])
        for s in steps:
            w.writerow([s] + [f"{r[0][s]:.6f}" for _, r in runs]
                       + [f"{r[1][s]:.6f}" if s in evals else "" for _, r in runs])
    first, last = (evals[0], evals[-1]) if evals else (None, None)
    print(f"| precision | train loss step {steps[0]} → {steps[-1]} | max abs Δ vs {ref_name} (step) | mean abs Δ "
          f"| max rel Δ while {ref_name} loss > 0.5 | validation loss step {first} | validation loss step {last} | rel Δ |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, (s, e) in runs:
        absd = {k: abs(s[k] - ref[k]) for k in steps}
        worst = max(steps, key=lambda k: absd[k])
        early = [absd[k] / abs(ref[k]) for k in steps if abs(ref[k]) > 0.5]
        fv, v0 = (e[last], e[first]) if evals else (float("nan"), float("nan"))
        rv = abs(fv - ref_eval[last]) / abs(ref_eval[last]) if evals else float("nan")
        print(f"| {name} | {s[steps[0]]:.4f} → {s[steps[-1]]:.4f} | {absd[worst]:.2e} ({worst}) "
              f"| {sum(absd.values()) / len(absd):.2e} | {max(early) if early else 0:.2e} | {v0:.4f} | {fv:.5f} | {rv:.1e} |")


if __name__ == "__main__":
    main()
