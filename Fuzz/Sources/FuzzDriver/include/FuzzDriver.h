// libFuzzer's driver entry (compiler-rt, LLVM >= 11), linked by -sanitize=fuzzer. SwiftPM links an
// executable's `main` to the module's own entry point, so each harness calls the driver itself.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*user_callback)(const uint8_t *data, size_t size));
