# LoRAKit — the two commands: `make run` and `make test`.
SHELL := /bin/bash
SWIFT ?= swift
MODEL_CACHE ?= $(HOME)/.cache/lorakit/models
DEFAULT_MODEL := $(MODEL_CACHE)/SmolLM2-135M-Instruct.Q4_1.gguf
export LORAKIT_MODEL ?= $(DEFAULT_MODEL)

.PHONY: run test setup model build release consumer clean fixtures bench

setup:
	@scripts/setup

model: setup
	@scripts/fetch-model >/dev/null

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release --product lorakit

## make run: set up, fetch the default model, build in release mode, run the main job.
run: model release
	.build/release/lorakit cpu
	.build/release/lorakit inspect "$(LORAKIT_MODEL)"

## make test: set up, fetch the default model, build, run every test, build the consumer example.
test: model
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) consumer

## The tiny downstream package that depends on LoRAKit by path (proves no unsafeFlags leak).
consumer: setup
	cd Examples/Consumer && $(SWIFT) build && .build/debug/Consumer

fixtures:
	python3 scripts/make-fixtures.py

clean:
	rm -rf .build Examples/*/.build
