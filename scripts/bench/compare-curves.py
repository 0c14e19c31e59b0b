#!/usr/bin/env python3
"""Compares the loss curves of two `lorakit train` runs (e.g. --precision fp32 vs bf16) step by step.

Usage: scripts/bench/compare-curves.py RUN_A RUN_B   (run folders holding metrics.jsonl, or the files)
Prints, over the steps both runs logged: max and mean absolute and relative train-loss difference
(relative to run A), the difference at the last step, and each run's validation losses and the last one.
Standard library only.
"""
import json
import os
import sys


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "metrics.jsonl")
    steps, evals = {}, {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if r.get("type") in ("train", "step") and not r.get("skipped", False):
                steps[r["step"]] = r["loss"]
            elif r.get("type") == "eval":
                evals[r["step"]] = r["loss"]
    return steps, evals


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    (sa, ea), (sb, eb) = load(sys.argv[1]), load(sys.argv[2])
    common = sorted(set(sa) & set(sb))
    if not common:
        sys.exit("no common steps")
    absd = [abs(sa[s] - sb[s]) for s in common]
    reld = [abs(sa[s] - sb[s]) / abs(sa[s]) for s in common if sa[s] != 0]
    worst = max(common, key=lambda s: abs(sa[s] - sb[s]))
    a, b = sys.argv[1], sys.argv[2]
    print(f"A = {a}\nB = {b}")
    print(f"train loss over {len(common)} common steps ({common[0]}..{common[-1]}):")
    print(f"  A {sa[common[0]]:.4f} -> {sa[common[-1]]:.4f}   B {sb[common[0]]:.4f} -> {sb[common[-1]]:.4f}")
    print(f"  |A-B|: max {max(absd):.5f} (step {worst}), mean {sum(absd) / len(absd):.5f}, last {absd[-1]:.5f}")
    print(f"  |A-B|/|A|: max {max(reld):.2e}, mean {sum(reld) / len(reld):.2e}")
    ce = sorted(set(ea) & set(eb))
    for s in ce:
        print(f"  validation at step {s}: A {ea[s]:.4f}  B {eb[s]:.4f}  |A-B| {abs(ea[s] - eb[s]):.5f}")
    if ea and eb:
        la, lb = max(ea), max(eb)
        print(f"final validation loss: A {ea[la]:.4f} (step {la})  B {eb[lb]:.4f} (step {lb})  "
              f"|A-B| {abs(ea[la] - eb[lb]):.5f} ({abs(ea[la] - eb[lb]) / abs(ea[la]):.2e} relative)")


if __name__ == "__main__":
    main()
