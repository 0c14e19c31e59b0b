import LoRAKit

// Calls the library the way an embedding batch job would.
let cpu = CPUInfo.current
print("LoRAKit \(LoRAKit.version) from a consumer package; kernels: \(cpu.activeISA.rawValue)")
