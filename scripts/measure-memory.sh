#!/usr/bin/env bash
# Calibration of the memory accountant: trains SmolLM2 for a few steps in a fresh process per
# configuration and compares the predicted peak RSS (`lorakit budget`, printed before `train`) with
# the measured one (VmHWM at the end of the run, after the adapter is saved). Prints a Markdown table.
#
#   scripts/measure-memory.sh [path/to/lorakit] [model.gguf]
#
# Environment: STEPS (default 2), THREADS (default 2), PRECISION (default fp32), OUT (default a temp folder);
# WITH_1B=1 also synthesizes llama-3.2-1b (Q4_0, random weights, the Llama 3 tokenizer fixture:
# vocabulary 128,256) with `lorakit synth` and measures two runs of it.
set -euo pipefail
cd "$(dirname "$0")/.."
LORAKIT=${1:-.build/release/lorakit}
MODEL=${2:-${LORAKIT_MODEL:-$HOME/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf}}
STEPS=${STEPS:-2}
THREADS=${THREADS:-2}
PRECISION=${PRECISION:-fp32}   # the table in the README is fp32; bf16 adds the packed LM head
OUT=${OUT:-$(mktemp -d /tmp/lorakit-memory.XXXXXX)}
mkdir -p "$OUT"
DATA=Examples/data/veloria/train.jsonl   # no validation set: the run is only the training steps

if [ ! -x "$LORAKIT" ]; then swift build -c release --product lorakit; LORAKIT=.build/release/lorakit; fi
[ -f "$MODEL" ] || { echo "model not found: $MODEL (scripts/fetch-model.sh)" >&2; exit 1; }

# name | flags
CONFIGS=(
  "s128-b1-r4-qv-off|--seq-len 128 --batch-size 1 --rank 4 --targets q_proj,v_proj --checkpointing off"
  "s256-b4-r8-qv-off|--seq-len 256 --batch-size 4 --rank 8 --targets q_proj,v_proj --checkpointing off"
  "s512-b2-r16-all-off|--seq-len 512 --batch-size 2 --rank 16 --targets all-linear --checkpointing off"
  "s1024-b1-r64-all-on|--seq-len 1024 --batch-size 1 --rank 64 --targets all-linear --checkpointing on"
  "s256-b8-r32-attn-on|--seq-len 256 --batch-size 8 --rank 32 --targets q_proj,k_proj,v_proj,o_proj --checkpointing on"
  "s1024-b4-r8-all-off|--seq-len 1024 --batch-size 4 --rank 8 --targets all-linear --checkpointing off"
  "s128-b8-r64-all-on-drop|--seq-len 128 --batch-size 8 --rank 64 --targets all-linear --checkpointing on --dropout 0.1"
)

if [ "${WITH_1B:-0}" = 1 ]; then
  SYNTH="$OUT/llama-3.2-1b-synth.gguf"
  [ -f "$SYNTH" ] || "$LORAKIT" synth --preset llama-3.2-1b --quant q4_0 --out "$SYNTH" \
    --tokenizer Tests/Fixtures/tokenizer/llama3/tokenizer.json > /dev/null
  CONFIGS+=(
    "1b-s128-b1-r8-qv-off|--seq-len 128 --batch-size 1 --rank 8 --targets q_proj,v_proj --checkpointing off --chat-template llama3 --model-override $SYNTH"
    "1b-s512-b2-r32-all-on|--seq-len 512 --batch-size 2 --rank 32 --targets all-linear --checkpointing on --chat-template llama3 --model-override $SYNTH"
  )
fi

field() { sed -n "s/^  \"$1\" : \\([-0-9.e+]*\\).*/\\1/p" "$2" | head -1; }
gb() { awk -v b="$1" 'BEGIN { printf "%.3f GB", b / 1e9 }'; }

echo "| configuration | flags | predicted peak | measured VmHWM | error |"
echo "|---|---|---:|---:|---:|"
for entry in "${CONFIGS[@]}"; do
  name=${entry%%|*}; flags=${entry#*|}; model=$MODEL
  if [[ $flags == *--model-override* ]]; then model=${flags##*--model-override }; flags=${flags% --model-override*}; fi
  dir="$OUT/$name"; rm -rf "$dir"
  # shellcheck disable=SC2086
  "$LORAKIT" train --model "$model" --data "$DATA" --out "$dir" --steps "$STEPS" --threads "$THREADS" --precision "$PRECISION" --plain $flags \
    > "$OUT/$name.log" 2>&1 || { echo "| $name | \`$flags\` | failed: see $OUT/$name.log | | |"; continue; }
  p=$(field predictedPeakBytes "$dir/memory.json"); m=$(field measuredPeakBytes "$dir/memory.json")
  e=$(field errorPercent "$dir/memory.json")
  printf '| %s | `%s` | %s | %s | %+.1f%% |\n' "$name" "$flags" "$(gb "$p")" "$(gb "$m")" "$e"
done
echo
echo "logs and run folders: $OUT"
