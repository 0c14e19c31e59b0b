"""Regenerates every golden fixture under Tests/Fixtures from the reference implementations
(transformers, PEFT, gguf-py, Hugging Face tokenizers, torch). Needs:
    pip install torch transformers peft gguf tokenizers
and the default model (scripts/fetch-model); tokenizer_gguf.py and gemma3_golden.py also need `scripts/fetch-model gemma3-270m`,
`scripts/fetch-model qwen2-7b-header` and llama.cpp's llama-tokenize. Tests never run this; they read the committed files.
Run: python3 scripts/make-fixtures.py [name ...]   (names: the scripts in scripts/fixtures without .py)
"""
import os, subprocess, sys

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def main():
    names = sys.argv[1:] or sorted(f[:-3] for f in os.listdir(HERE) if f.endswith(".py") and f != "lk_init.py")
    for n in names:
        print(f"== {n}", flush=True)
        subprocess.run([sys.executable, os.path.join(HERE, n + ".py")], check=True)


if __name__ == "__main__":
    main()
