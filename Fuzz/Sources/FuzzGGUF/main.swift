import Foundation
import FuzzDriver
import LoRAKit

/// GGUF reader: header, metadata, tensor table and validation, then the Llama config, the tokenizer
/// vocabulary and the float/quantized views of the tensors, all from the fuzzed bytes in memory.
/// Thrown errors are fine; crashes, traps and sanitizer reports are findings.
func fuzzGGUF(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let copy = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 64)
    copy.copyMemory(from: data, byteCount: size)
    let storage = ByteStorage(base: UnsafeRawPointer(copy), count: size) { copy.deallocate() }
    guard let f = try? GGUFFile(path: "fuzz.gguf", storage: storage) else { return 0 }
    _ = try? LlamaConfig(gguf: f)
    if let v = try? BPEVocabulary(ggufMetadata: f.metadata) { _ = try? Tokenizer(v) }
    for t in f.tensors.prefix(16) {
        if t.dims.count == 1 && t.elementCount <= 1 << 16 { _ = try? f.floats(named: t.name) }
        if t.dims.count == 2, let m = try? f.matrix(named: t.name) {
            // Every block type's kernels on fuzzed blocks (any scale bits): row 0 and the last row.
            if m.cols <= 1 << 16 { _ = m.dequantizeRow(0); _ = m.dequantizeRow(m.rows - 1) }
        }
    }
    return 0
}

let emptyInput = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    return fuzzGGUF(data ?? UnsafePointer(emptyInput), size)
})
