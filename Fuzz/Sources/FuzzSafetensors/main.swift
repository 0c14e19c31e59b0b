import Foundation
import FuzzDriver
import LoRAKit

/// safetensors reader: header length, JSON header, dtypes, shapes, offsets, then each (small)
/// tensor read as floats, from the fuzzed bytes in memory.
func fuzzSafetensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let copy = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
    copy.copyMemory(from: data, byteCount: size)
    let storage = ByteStorage(base: UnsafeRawPointer(copy), count: size) { copy.deallocate() }
    guard let f = try? SafetensorsFile(path: "fuzz.safetensors", storage: storage) else { return 0 }
    for t in f.tensors.prefix(16) where t.elementCount <= 1 << 16 { _ = try? f.floats(named: t.name) }
    return 0
}

let emptyInput = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    return fuzzSafetensors(data ?? UnsafePointer(emptyInput), size)
})
