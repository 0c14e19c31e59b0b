"""Checks a tokenizer.json written by `lorakit merge --format hf` for a SentencePiece (Gemma 3) model against
llama.cpp's ids on the mixed tokenizer corpus (Tests/Fixtures/tokenizer/gguf_corpus.json, llama-tokenize
--no-bos --no-escape), with Hugging Face `tokenizers`.
Run: python3 scripts/check_hf_tokenizer.py TOKENIZER_JSON [--model gemma3]
"""
import argparse, json, os, sys
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("tokenizer")
ap.add_argument("--model", default="gemma3")
a = ap.parse_args()
corpus = json.load(open(os.path.join(ROOT, "Tests", "Fixtures", "tokenizer", "gguf_corpus.json")))
tok = Tokenizer.from_file(a.tokenizer)
bad = 0
for s, want in zip(corpus["strings"], corpus[a.model]):
    got = tok.encode(s, add_special_tokens=False).ids
    if got != want:
        bad += 1
        if bad <= 5:
            print("MISMATCH", repr(s[:80]), got[:20], want[:20])
    elif tok.decode(got, skip_special_tokens=False) != s:
        print("decode differs", repr(s[:60]))
n = len(corpus["strings"])
print(f"{n - bad} of {n} strings tokenized as llama.cpp does")
sys.exit(1 if bad else 0)
