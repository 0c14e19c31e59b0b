#!/usr/bin/env bash
# Issue K measurements: synthesize Llama-3.1-8B and Llama-3.2-1B shaped Q4_0 models, check the mmap
# load, train on them, and compare peak RSS with `lorakit budget`. Needs ~6 GB of disk in $DIR and,
# for the 8B runs, ~8 GB of RAM. Release build: swift build -c release --product lorakit.
# Usage: scripts/scale/measure-8b.sh [DIR] (default /work/tmp-scale; never inside the repository).
set -eu
DIR=${1:-/work/tmp-scale}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
LK=${LORAKIT:-$ROOT/.build/release/lorakit}
TOK=$ROOT/Tests/Fixtures/tokenizer/llama3/tokenizer.json
mkdir -p "$DIR" && cd "$DIR"
python3 "$ROOT/scripts/scale/make-text-data.py" "$DIR/text"
mkdir -p text-train && cp text/train.jsonl text-train/          # no validation set: pure step timing

[ -f llama-3.1-8b.Q4_0.gguf ] || "$LK" synth --preset llama-3.1-8b --quant q4_0 --seed 1 --tokenizer "$TOK" --out llama-3.1-8b.Q4_0.gguf
[ -f llama-3.2-1b.Q4_0.gguf ] || "$LK" synth --preset llama-3.2-1b --quant q4_0 --seed 2 --tokenizer "$TOK" --out llama-3.2-1b.Q4_0.gguf
"$LK" synth --preset llama-3.1-8b --out llama-3.1-8b.Q4_0.gguf --check-only | tee loadcheck.log

common="--rank 16 --targets all-linear --batch-size 1 --packing --checkpointing on --precision fp32 --plain"
for S in 256 2048; do
    "$LK" budget --model llama-3.1-8b.Q4_0.gguf --rank 16 --targets all-linear --seq-len $S --batch-size 1 --checkpointing on > budget8b-$S.txt
    rm -rf run8b-$S
    "$ROOT/scripts/scale/rss-watch.sh" rss8b-$S.log 5 -- /usr/bin/time -v "$LK" train --model llama-3.1-8b.Q4_0.gguf \
        --data text-train --out run8b-$S --seq-len $S --steps $([ $S = 256 ] && echo 2 || echo 1) --lr 1e-4 $common > run8b-$S.log 2>&1
done
"$LK" budget --model llama-3.2-1b.Q4_0.gguf --rank 16 --targets all-linear --seq-len 128 --batch-size 1 --checkpointing on > budget1b.txt
rm -rf run1b
/usr/bin/time -v "$LK" train --model llama-3.2-1b.Q4_0.gguf --data text --out run1b --seq-len 128 --steps 20 --lr 1e-3 \
    --warmup 2 --eval-batches 2 $common > run1b.log 2>&1
grep -h "predicted peak" budget*.txt; grep -h "Maximum resident\|Elapsed" run*.log; grep -h "validation loss" run1b.log
