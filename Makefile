# LoRAKit — the two commands: `make run` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
MODEL_CACHE ?= $(HOME)/.cache/lorakit/models
DEFAULT_MODEL := $(MODEL_CACHE)/SmolLM2-135M-Instruct.Q4_1.gguf
export LORAKIT_MODEL ?= $(DEFAULT_MODEL)

.PHONY: run run-model test test-models setup model build release consumer batchjob clean fixtures bench fuzz

setup:
	@scripts/setup

model: setup
	@scripts/fetch-model >/dev/null

## The second real model the tests check against (Gemma 3 270M Q4_K_M; Gemma Terms of Use apply).
test-models: model
	@scripts/fetch-model gemma3-270m >/dev/null

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release --product lorakit

LORAKIT := .build/release/lorakit

## MODEL=gemma3-270m runs the main job on Gemma 3 270M Q4_K_M instead (fetched by scripts/fetch-model gemma3-270m,
## Gemma Terms of Use apply) into runs/veloria-gemma3; the default (MODEL unset) is $(LORAKIT_MODEL).
ifeq ($(MODEL),gemma3-270m)
RUN_MODEL := $(MODEL_CACHE)/gemma-3-270m-q4_k_m.gguf
RUN_OUT ?= runs/veloria-gemma3
else
RUN_MODEL := $(LORAKIT_MODEL)
RUN_OUT ?= runs/veloria
endif

run-model: setup
	@if [ "$(MODEL)" = gemma3-270m ]; then scripts/fetch-model gemma3-270m >/dev/null; else scripts/fetch-model >/dev/null; fi

## make run: set up, fetch the default model, build in release mode, run the main job:
## fine-tune a LoRA on Examples/data/veloria (facts the base model cannot know) and show its effect.
run: run-model release
	$(LORAKIT) inspect "$(RUN_MODEL)"
	$(LORAKIT) train --model "$(RUN_MODEL)" --data Examples/data/veloria --out $(RUN_OUT) --fresh \
	  --targets all-linear --rank 8 --alpha 16 --lr 2e-3 --warmup 5 --steps 80 --batch-size 4 --seq-len 64 \
	  --eval-interval 20
	@echo "== The same questions answered by the base model and by base + adapter:"
	$(LORAKIT) generate --model "$(RUN_MODEL)" --adapter $(RUN_OUT)/adapter --with-base --chat \
	  --prompts Examples/data/veloria/prompts.txt --max-tokens 48

## make test: set up, fetch the default model, build the example packages, build and run every test (XCTest).
test: test-models
	$(MAKE) consumer batchjob
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --disable-swift-testing

## The tiny downstream package that depends on LoRAKit by path (proves no unsafeFlags leak).
consumer: setup
	cd Examples/Consumer && $(SWIFT) build && .build/debug/Consumer

## The batch-job example (several adapters over one loaded base) must keep building.
batchjob: setup
	cd Examples/BatchJob && $(SWIFT) build

fixtures:
	python3 scripts/make-fixtures.py

clean:
	rm -rf .build Examples/*/.build

## make fuzz: build the libFuzzer harnesses in Fuzz/ (address sanitizer) and run each for FUZZ_RUNS executions
## from the seed corpora in Fuzz/Corpus (new inputs go to .build-fuzz/corpus, crashes to .build-fuzz/artifacts).
FUZZ_RUNS ?= 1000000
FUZZ_TARGETS ?= GGUF Safetensors Tokenizer JSONL
fuzz: setup
	cd Fuzz && $(SWIFT) build -c release --scratch-path ../.build-fuzz -Xswiftc -sanitize=fuzzer,address --toolset toolset.json
	@set -o pipefail; for t in $(FUZZ_TARGETS); do \
	  mkdir -p .build-fuzz/corpus/$$t .build-fuzz/artifacts/$$t; \
	  echo "== Fuzz$$t: $(FUZZ_RUNS) executions"; \
	  .build-fuzz/release/Fuzz$$t -runs=$(FUZZ_RUNS) -max_len=16384 -rss_limit_mb=4096 -print_final_stats=1 \
	    -artifact_prefix=.build-fuzz/artifacts/$$t/ .build-fuzz/corpus/$$t Fuzz/Corpus/$$t 2>&1 \
	    | grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==ERROR|SUMMARY)|DEDUP|Test unit written" || exit 1; \
	done

## make bench: the package-benchmark regression check in Benchmarks/ (its own package, never part of make test):
## a forward pass and a training step on SmolLM2-135M (fp32, and bf16 on AVX512-BF16 CPUs) and the 2-thread Q4_1
## dequantizing products, against the p90 values stored in Benchmarks/Thresholds. Fails (exit 2) on a large
## regression: time +50%, resident memory +25%, tokens/s or GFLOP/s −50%. Builds in .build-bench.
## make bench-thresholds: re-measure and store them (median of BENCH_RUNS=3 runs; commit Benchmarks/Thresholds).
.PHONY: bench-thresholds
bench: model
	Benchmarks/thresholds.sh check

bench-thresholds: model
	Benchmarks/thresholds.sh update
