// Prints llama.cpp logits (summary JSON) of a token sequence, optionally with a LoRA adapter.
// usage: probe MODEL.gguf TOKENS(comma) [LORA.gguf]
#include "llama.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage\n"); return 2; }
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "model load failed\n"); return 1; }
    int toks[512], n = 0;
    for (char *s = strtok(argv[2], ","); s && n < 512; s = strtok(NULL, ",")) toks[n++] = atoi(s);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256; cp.n_batch = 256; cp.n_ubatch = 256; cp.n_threads = 2; cp.n_threads_batch = 2;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (argc > 3) {
        struct llama_adapter_lora *ad = llama_adapter_lora_init(model, argv[3]);
        if (!ad) { fprintf(stderr, "adapter load failed\n"); return 1; }
        float scale = 1.0f;
        if (llama_set_adapters_lora(ctx, &ad, 1, &scale) != 0) { fprintf(stderr, "set adapter failed\n"); return 1; }
    }
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        b.token[i] = toks[i]; b.pos[i] = i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1;
    }
    b.n_tokens = n;
    if (llama_decode(ctx, b) != 0) { fprintf(stderr, "decode failed\n"); return 1; }
    int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
    printf("{\"argmax\": [");
    for (int i = 0; i < n; i++) {
        float *l = llama_get_logits_ith(ctx, i); int am = 0;
        for (int v = 1; v < V; v++) if (l[v] > l[am]) am = v;
        printf("%s%d", i ? ", " : "", am);
    }
    printf("], \"row_norm\": [");
    for (int i = 0; i < n; i++) {
        float *l = llama_get_logits_ith(ctx, i); double s = 0;
        for (int v = 0; v < V; v++) s += (double)l[v] * l[v];
        printf("%s%.6f", i ? ", " : "", sqrt(s));
    }
    printf("], \"first_cols\": [");
    for (int i = 0; i < n; i++) {
        float *l = llama_get_logits_ith(ctx, i);
        for (int c = 0; c < 64; c++) printf("%s%.7g", (i || c) ? ", " : "", l[c]);
    }
    printf("]}\n");
    return 0;
}
