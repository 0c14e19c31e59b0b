// Embedding gather from a (possibly quantized) table: rows dequantized with lk_dequantize_row (lk_quant.h).
#include "lk_quant.h"
#include "ops_internal.h"

void lk_embed_rows_ref(float *out, int type, const void *table, int64_t row_bytes, const int32_t *ids, int64_t T,
                       int64_t C) {
    for (int64_t t = 0; t < T; t++)
        lk_dequantize_row_ref((lk_type)type, out + t * C, (const unsigned char *)table + (int64_t)ids[t] * row_bytes, C);
}

typedef struct {
    lk_isa isa;
    float *out;
    lk_type type;
    const unsigned char *table;
    int64_t row_bytes, C;
    const int32_t *ids;
} embed_ctx;

static void embed_range(void *ctx, int64_t r0, int64_t r1) {
    const embed_ctx *a = (const embed_ctx *)ctx;
    for (int64_t t = r0; t < r1; t++)
        lk_dequantize_row_isa(a->isa, a->type, a->out + t * a->C, a->table + (int64_t)a->ids[t] * a->row_bytes, a->C);
}

void lk_embed_rows_isa(lk_isa isa, lk_pool *p, float *out, int type, const void *table, int64_t row_bytes,
                       const int32_t *ids, int64_t T, int64_t C) {
    embed_ctx c = {isa, out, (lk_type)type, (const unsigned char *)table, row_bytes, C, ids};
    lk_ops_parallel_for(p, T, 1, 8, embed_range, &c);
}

void lk_embed_rows(lk_pool *p, float *out, int type, const void *table, int64_t row_bytes, const int32_t *ids,
                   int64_t T, int64_t C) {
    lk_embed_rows_isa(lk_active_isa(), p, out, type, table, row_bytes, ids, T, C);
}
