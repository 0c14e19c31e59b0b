"""Loads a PEFT adapter folder written by LoRAKit with Python PEFT and prints/stores its logits.

Run by hand (not by the tests) for the end-to-end check of issue G:
  python3 scripts/check_peft_load.py --adapter DIR [--model GGUF] [--tokens 1,2,3 | --text TEXT]
         [--out result.json] [--compare logits.json] [--loss [OUR_LOSS]]

1. The base is the GGUF dequantized by transformers (Q/K rows back in Hugging Face order), the adapter is
   loaded with PeftModel.from_pretrained(base, DIR) unmodified.
2. Every LoRA weight PEFT holds is compared with the folder's safetensors (so a key PEFT silently ignored,
   or one it expected but did not find, fails the check), and the scaling PEFT uses is printed.
3. The logits of the token sequence are printed (argmax/max/norm per row) and, with --out, written in the
   format of Tests/Fixtures/peft/logits.json; --compare prints the max relative difference of the first
   columns and row norms against such a file (e.g. LoRAKit's own logits, or the fixture).
"""
import argparse, json, os, sys
import numpy as np
import torch

COLS = 64


def summary(logits):
    l64 = logits.astype(np.float64)
    return {
        "argmax": [int(i) for i in l64.argmax(axis=1)],
        "max": [float(v) for v in l64.max(axis=1)],
        "row_norm": [float(v) for v in np.linalg.norm(l64, axis=1)],
        "first_cols": [float(v) for v in logits[:, :COLS].ravel()],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--tokens", help="comma-separated token ids (default: those of Tests/Fixtures/peft/logits.json)")
    ap.add_argument("--text")
    ap.add_argument("--out")
    ap.add_argument("--compare")
    ap.add_argument("--loss", type=float, nargs="?", const=0.0,
                    help="print PEFT's mean next-token loss over the ids (compared with the value given, e.g. "
                         "`lorakit eval --tokens FILE --adapter DIR --precision fp32`'s mean_loss)")
    args = ap.parse_args()

    from transformers import AutoModelForCausalLM, AutoTokenizer
    from peft import PeftModel
    from safetensors.numpy import load_file

    torch.set_num_threads(2)
    d, f = os.path.split(args.model)
    base = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    if args.tokens:
        ids = [int(t) for t in args.tokens.split(",")]
    elif args.text:
        ids = AutoTokenizer.from_pretrained(d, gguf_file=f)(args.text)["input_ids"]
    else:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        ids = json.load(open(os.path.join(root, "Tests", "Fixtures", "peft", "logits.json")))["tokens"]

    model = PeftModel.from_pretrained(base, args.adapter)
    model.eval()

    # Every LoRA tensor PEFT holds must equal the file's, and every file tensor must be used.
    sd = load_file(os.path.join(args.adapter, "adapter_model.safetensors"))
    used, checked = set(), 0
    for name, p in model.named_parameters():
        if "lora_" not in name:
            continue
        key = name.replace(".default", "")
        if key not in sd:
            sys.exit(f"FAIL: PEFT has {name} but the file has no {key}")
        if not np.array_equal(p.detach().numpy(), sd[key]):
            sys.exit(f"FAIL: {name} differs from the file")
        used.add(key)
        checked += 1
    unused = set(sd) - used
    if unused:
        sys.exit(f"FAIL: {len(unused)} file tensors unused by PEFT, e.g. {sorted(unused)[:3]}")
    some = next(m for m in model.modules() if hasattr(m, "scaling") and isinstance(m.scaling, dict) and m.scaling)
    print(f"PEFT loaded {checked} LoRA tensors, all equal to the file; scaling {some.scaling}")

    with torch.no_grad():
        logits = model(torch.tensor([ids], dtype=torch.long)).logits[0].numpy()
    s = summary(logits)
    if args.loss is not None:
        lt = torch.tensor(logits[:-1]).double()
        loss = float(torch.nn.functional.cross_entropy(lt, torch.tensor(ids[1:])))
        print(f"mean next-token loss (PEFT) {loss:.6f}"
              + (f"; given {args.loss:.6f}: relative difference {abs(loss - args.loss) / loss:.3e}" if args.loss else ""))
    print("tokens", ids)
    print("argmax", s["argmax"])
    print("row_norm", [round(v, 4) for v in s["row_norm"]])
    if args.out:
        json.dump({"tokens": ids, "shape": list(logits.shape), "cols": COLS, "adapter": s}, open(args.out, "w"), indent=1)
    if args.compare:
        ref = json.load(open(args.compare))
        r = ref.get("adapter", ref)
        a, b = np.array(s["first_cols"]), np.array(r["first_cols"])
        na, nb = np.array(s["row_norm"]), np.array(r["row_norm"])
        rel_cols = float(np.abs(a - b).max() / np.abs(b).max())
        rel_norm = float((np.abs(na - nb) / nb).max())
        print(f"vs {args.compare}: max |diff|/max|ref| of first {COLS} cols = {rel_cols:.3e}, "
              f"max relative row-norm diff = {rel_norm:.3e}, argmax equal: {s['argmax'] == r['argmax']}")


if __name__ == "__main__":
    main()
