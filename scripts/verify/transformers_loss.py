#!/usr/bin/env python3
"""Mean next-token loss of a GGUF model in transformers on given token ids, the way `lorakit eval --tokens`
scores them: non-overlapping windows of CTX tokens from the start, each window scoring its CTX-1 predictions,
no BOS. transformers loads the GGUF with gguf_file= (dequantized by gguf-py to fp32).

Usage: transformers_loss.py MODEL.gguf IDS_FILE CTX WINDOWS      prints {"mean_loss": …, "tokens_scored": …}
"""
import json, os, sys

import torch
from transformers import AutoModelForCausalLM


def main():
    path, ids_file, ctx, windows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    ids = [int(t) for t in open(ids_file).read().replace(",", " ").split()]
    torch.set_num_threads(2)
    m = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(path)), gguf_file=os.path.basename(path),
                                             torch_dtype=torch.float32)
    m.eval()
    n = min(windows, len(ids) // ctx)
    total, count = 0.0, 0
    with torch.no_grad():
        for w in range(n):
            x = torch.tensor([ids[w * ctx:(w + 1) * ctx]])
            logits = m(x).logits[0].double()
            loss = torch.nn.functional.cross_entropy(logits[:-1], x[0, 1:], reduction="sum")
            total += float(loss)
            count += ctx - 1
    print(json.dumps({"mean_loss": total / count, "tokens_scored": count, "windows": n, "model": os.path.basename(path)}))


if __name__ == "__main__":
    main()
