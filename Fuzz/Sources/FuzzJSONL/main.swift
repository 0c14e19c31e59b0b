import Foundation
import FuzzDriver
import LoRAKit

/// JSONL loader: the fuzzed bytes as a dataset file, parsed under both bad-line policies, then
/// tokenized (text / chat / prompt-completion, prompt masking, packing) with SmolLM2's tokenizer.
let tokenizer: Tokenizer = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    let path = ProcessInfo.processInfo.environment["LORAKIT_FUZZ_TOKENIZER"]
        ?? root.appendingPathComponent("Tests/Fixtures/tokenizer/smollm2/tokenizer.json").path
    do { return try Tokenizer(tokenizerJSONPath: path) } catch {
        FileHandle.standardError.write(Data("cannot load tokenizer \(path): \(error)\n".utf8))
        exit(2)
    }
}()

func fuzzJSONL(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? RawDataset(bytes: bytes, path: "fuzz.jsonl", policy: .fail)
    guard let raw = try? RawDataset(bytes: bytes, path: "fuzz.jsonl", policy: .skip) else { return 0 }
    let packing = size % 2 == 0
    let options = DatasetOptions(badLines: .skip, maskPrompt: size % 3 == 0, contextLength: 16 + size % 48, packing: packing)
    if let d = try? TokenizedDataset(raw, tokenizer: tokenizer, options: options), d.targetCount > 0,
       var it = try? BatchIterator(dataset: d, batchSize: 2, sequenceLength: 8 + size % 24, packing: packing, seed: UInt64(size)) {
        for _ in 0..<min(8, it.batchesPerEpoch + 1) { _ = it.next() }
    }
    return 0
}

let emptyInput = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    return fuzzJSONL(data ?? UnsafePointer(emptyInput), size)
})
