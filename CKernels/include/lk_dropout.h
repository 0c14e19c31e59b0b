// Dropout with a counter-based mask, so backward regenerates the forward's mask from the seed.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// y[i] = keep(seed, i) ? x[i] / (1 - p) : 0, where keep(seed, i) = U(seed, i) >= p and U is the top
/// 24 bits of SplitMix64(seed + (i+1)·0x9E3779B97F4A7C15) scaled to [0, 1). y may equal x. x, y: [n]
void lk_dropout(float *y, const float *x, int64_t n, float p, uint64_t seed);

#ifdef __cplusplus
}
#endif
