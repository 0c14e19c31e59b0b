# Mean next-token loss of a GGUF model (dequantized by transformers) over non-overlapping windows of the given token
# ids, in fp32 and under torch.autocast("cpu", dtype=torch.bfloat16) (what PyTorch+PEFT's best mode computes in),
# to set our bf16/int8 products' loss deviation beside PyTorch's own. The same windows in lorakit:
#   lorakit tokenize --model M --no-bos --no-special < README.md > ids.txt
#   python3 scripts/bench/torch_eval_loss.py M ids.txt 256 24
#   lorakit eval --model M --tokens ids.txt --ctx 256 --windows 24 --precision fp32|bf16|int8   (loss = ln perplexity)
import sys, torch
from transformers import AutoModelForCausalLM
path, ids_file, ctx, nwin = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ids = [int(t) for t in open(ids_file).read().split()]
d, f = path.rsplit('/', 1)
model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, torch_dtype=torch.float32).eval()
torch.set_num_threads(2)
wins = [ids[i * ctx:(i + 1) * ctx] for i in range(min(nwin, len(ids) // ctx))]
x = torch.tensor(wins)
def loss(autocast):
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        tot, n = 0.0, 0
        for i in range(0, len(wins), 4):
            b = x[i:i + 4]
            logits = model(b).logits.float()
            l = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1), reduction='sum')
            tot += l.item(); n += b[:, 1:].numel()
    return tot / n, n
f32, n = loss(False)
b16, _ = loss(True)
print(f"windows {len(wins)} x {ctx}, {n} predictions: fp32 {f32:.6f}, bf16 autocast {b16:.6f} ({(b16 - f32) / f32:+.2e} relative)")
