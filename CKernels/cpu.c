// CPU feature detection (CPUID + XGETBV on x86, HWCAP on AArch64) and the active ISA.
#include "lk_cpu.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
static uint64_t xgetbv0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}
static uint32_t detect(void) {
    uint32_t a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return 0;
    const uint64_t xcr0 = xgetbv0();
    const int ymm_ok = (xcr0 & 0x6) == 0x6;
    const int zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const int avx2 = (b >> 5) & 1;
    const int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1,
              avx512vl = (b >> 31) & 1, vnni = (c >> 11) & 1;
    if (ymm_ok && avx2 && fma && f16c) f |= LK_CPU_AVX2;
    if (zmm_ok && (f & LK_CPU_AVX2) && avx512f && avx512dq && avx512bw && avx512vl) {
        f |= LK_CPU_AVX512;
        if (vnni) f |= LK_CPU_AVX512_VNNI;
        uint32_t a1, b1, c1, d1;
        if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && ((a1 >> 5) & 1)) f |= LK_CPU_AVX512_BF16;
    }
    return f;
}
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
static uint32_t detect(void) { // Advanced SIMD is mandatory on AArch64; SDOT is FEAT_DotProd
    int v = 0;
    size_t len = sizeof v;
    const int dp = sysctlbyname("hw.optional.arm.FEAT_DotProd", &v, &len, NULL, 0) == 0 && v != 0;
    return LK_CPU_NEON | (dp ? LK_CPU_NEON_DOTPROD : 0);
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
static uint32_t detect(void) { // Advanced SIMD is mandatory on AArch64; SDOT is HWCAP_ASIMDDP
    return LK_CPU_NEON | ((getauxval(AT_HWCAP) & HWCAP_ASIMDDP) ? LK_CPU_NEON_DOTPROD : 0);
}
#elif defined(__aarch64__)
static uint32_t detect(void) { return LK_CPU_NEON; } // Advanced SIMD is mandatory on AArch64
#else
static uint32_t detect(void) { return 0; }
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static uint32_t features;
static lk_isa active;

static lk_isa best_of(uint32_t f) {
    if (f & LK_CPU_AVX512) return LK_ISA_AVX512;
    if (f & LK_CPU_AVX2) return LK_ISA_AVX2;
    if (f & LK_CPU_NEON) return LK_ISA_NEON;
    return LK_ISA_SCALAR;
}

static void init(void) {
    features = detect();
    active = best_of(features);
    const char *env = getenv("LORAKIT_ISA");
    if (env) {
        for (int i = LK_ISA_SCALAR; i <= LK_ISA_AVX512; i++) {
            if (strcmp(env, lk_isa_name((lk_isa)i)) == 0 && lk_isa_supported((lk_isa)i)) active = (lk_isa)i;
        }
    }
}

uint32_t lk_cpu_features(void) { pthread_once(&once, init); return features; }
lk_isa lk_cpu_best_isa(void) { return best_of(lk_cpu_features()); }
lk_isa lk_active_isa(void) { pthread_once(&once, init); return active; }

int lk_isa_supported(lk_isa isa) {
    const uint32_t f = lk_cpu_features();
    switch (isa) {
    case LK_ISA_SCALAR: return 1;
    case LK_ISA_NEON: return (f & LK_CPU_NEON) != 0;
    case LK_ISA_AVX2: return (f & LK_CPU_AVX2) != 0;
    case LK_ISA_AVX512: return (f & LK_CPU_AVX512) != 0;
    }
    return 0;
}

const char *lk_isa_name(lk_isa isa) {
    switch (isa) {
    case LK_ISA_SCALAR: return "scalar";
    case LK_ISA_NEON: return "neon";
    case LK_ISA_AVX2: return "avx2";
    case LK_ISA_AVX512: return "avx512";
    }
    return "unknown";
}
