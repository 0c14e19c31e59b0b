import Foundation
import FuzzDriver
import LoRAKit

/// Tokenizer (SmolLM2's byte-level BPE from Tests/Fixtures, or $LORAKIT_FUZZ_TOKENIZER): any bytes
/// as text (invalid UTF-8 repaired by String), encoded with and without special-token parsing (every
/// id must be inside the vocabulary) and decoded; the bytes read as token ids are decoded too (ids
/// out of range must not trap). Round trip is not required: Hugging Face's own decode does not
/// round-trip control characters for this tokenizer (a first fuzz finding, checked against `tokenizers`).
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

func fuzzTokenizer(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes, as: UTF8.self)
    let plain = tokenizer.encode(text, addBOS: false, parseSpecial: false)
    let special = tokenizer.encode(text, addBOS: true, parseSpecial: true)
    let n = Int32(tokenizer.vocabularySize)
    if !(plain + special).allSatisfy({ $0 >= 0 && $0 < n }) {
        FileHandle.standardError.write(Data("token id outside the vocabulary for \(Array(bytes))\n".utf8))
        abort()
    }
    _ = tokenizer.decode(plain)
    var ids: [Int32] = []
    var i = 0
    while i + 4 <= size {
        ids.append(Int32(bitPattern: UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24))
        i += 4
    }
    _ = tokenizer.decodeBytes(ids)
    return 0
}

let emptyInput = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    return fuzzTokenizer(data ?? UnsafePointer(emptyInput), size)
})
