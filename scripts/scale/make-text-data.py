#!/usr/bin/env python3
"""Turns the Veloria chat example into a plain-text JSONL dataset ({"text": ...}, one Q/A per line),
for training runs on synthetic models that carry no chat template.
Usage: scripts/scale/make-text-data.py OUT_DIR"""
import json, os, sys

out = sys.argv[1] if len(sys.argv) > 1 else "/work/tmp-scale/text"
os.makedirs(out, exist_ok=True)
src = os.path.join(os.path.dirname(__file__), "..", "..", "Examples", "data", "veloria")
for name in ("train.jsonl", "valid.jsonl"):
    with open(os.path.join(src, name)) as f, open(os.path.join(out, name), "w") as g:
        for line in f:
            m = json.loads(line)["messages"]
            text = " ".join(x["content"] for x in m)
            g.write(json.dumps({"text": text}) + "\n")
print(out)
