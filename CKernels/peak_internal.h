// Internal: the per-ISA loops of lk_peak_ops_per_second (peak.c). Each runs `iters` iterations of 12 independent
// accumulator instructions and returns the operations it did (for the caller to divide by the time).
#pragma once
#include <stdint.h>

#if defined(__x86_64__)
double lk_peak_fp32_avx512(int64_t iters);
double lk_peak_fp32_avx2(int64_t iters);
double lk_peak_bf16_avx512(int64_t iters);
double lk_peak_int8_vnni(int64_t iters);
double lk_peak_int8_avx2(int64_t iters);
#endif
#if defined(__aarch64__)
double lk_peak_fp32_neon(int64_t iters);
double lk_peak_int8_neon(int64_t iters);
#endif
