// Counter-based dropout (scalar: memory-bound and used only when lora_dropout > 0).
#include "lk_dropout.h"

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void lk_dropout(float *y, const float *x, int64_t n, float p, uint64_t seed) {
    const float keep_scale = 1.0f / (1.0f - p);
    const uint32_t threshold = (uint32_t)((double)p * (double)(1u << 24));
    for (int64_t i = 0; i < n; i++) {
        const uint32_t u = (uint32_t)(mix64(seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull) >> 40);
        y[i] = u >= threshold ? x[i] * keep_scale : 0.0f;
    }
}
