#!/usr/bin/env python3
"""PyTorch + PEFT baseline of one LoRA training step (the peer of `lorakit bench train`).

SmolLM2-135M loaded by transformers from the same GGUF (dequantized to fp32), PEFT LoRA r=8 alpha=16 on
q_proj,v_proj, seq 256 x batch 4, AdamW, torch CPU with 2 threads. Prints one JSON object: median step
time, tokens/s, the per-step times, and the process's peak RSS (ru_maxrss).
--autocast bf16 runs forward and loss under torch.autocast("cpu", dtype=torch.bfloat16): what HF Trainer's bf16=True
does on CPU (the faster PyTorch mode on AVX512-BF16 CPUs; compare against the faster of the two).
Usage: peft_train_bench.py [--model PATH.gguf] [--threads 2] [--batch 4] [--seq 256] [--repeats 5] [--warmup 1] [--autocast bf16]
       [--steps N --losses]  (N steps on a fixed seeded batch, printing the loss curve instead)
"""
import argparse, json, os, resource, statistics, sys, time

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--autocast", choices=["none", "bf16"], default="none")
    a = ap.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    from transformers import AutoModelForCausalLM
    from peft import LoraConfig, get_peft_model

    d, name = os.path.split(os.path.abspath(a.model))
    t0 = time.time()
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name, torch_dtype=torch.float32)
    load_s = time.time() - t0
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                             target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, model.config.vocab_size, (a.batch, a.seq), generator=g)

    import contextlib
    def ctx():
        return torch.autocast("cpu", dtype=torch.bfloat16) if a.autocast == "bf16" else contextlib.nullcontext()

    def step():
        with ctx():
            out = model(input_ids=ids, labels=ids)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return out.loss.item()

    for _ in range(a.warmup):
        step()
    times = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    tokens = a.batch * a.seq
    print(json.dumps({
        "name": "pytorch+peft train" + (" (bf16 autocast)" if a.autocast == "bf16" else ""), "autocast": a.autocast, "threads": a.threads, "tokens": tokens, "seconds": times,
        "medianSeconds": med, "tokensPerSecond": tokens / med,
        "peakRSSBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "loadSeconds": load_s, "torch": torch.__version__,
    }))

if __name__ == "__main__":
    sys.exit(main())
