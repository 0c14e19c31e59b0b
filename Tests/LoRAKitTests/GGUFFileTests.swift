import Foundation
import XCTest
@testable import LoRAKit

/// Path of the default test model, or a skip when it is absent.
func smolLM2Path() throws -> String {
    let env = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
    let path = env ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    guard FileManager.default.fileExists(atPath: path) else {
        throw XCTSkip("test model not found at \(path): run scripts/fetch-model or set LORAKIT_MODEL")
    }
    return path
}

/// A fresh temporary folder, removed by the test's teardown.
func makeTempDir(_ test: XCTestCase) throws -> String {
    let dir = NSTemporaryDirectory() + "lorakit-formats-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
    return dir
}

final class GGUFFileTests: XCTestCase {
    func testSmolLM2Parses() throws {
        let path = try smolLM2Path()
        let t0 = Date()
        let f = try GGUFFile(path: path)
        let dt = Date().timeIntervalSince(t0)
        print("GGUF parse of \(path): \(String(format: "%.3f", dt)) s")
        XCTAssertLessThan(dt, 1.0)
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.tensors.count, 272)
        XCTAssertEqual(f.metadata.count, 33)
        XCTAssertEqual(f.metadataKeys.first, "general.architecture")
        XCTAssertEqual(f.metadata["general.architecture"]?.string, "llama")
        XCTAssertEqual(f.metadata["llama.block_count"]?.int, 30)
        XCTAssertEqual(f.metadata["llama.rope.freq_base"]?.float, 100000)
        XCTAssertEqual(f.metadata["tokenizer.ggml.tokens"]?.stringArray?.count, 49152)
        XCTAssertEqual(f.metadata["tokenizer.ggml.merges"]?.stringArray?.count, 48900)
        XCTAssertEqual(f.metadata["tokenizer.ggml.token_type"]?.intArray?.count, 49152)
        XCTAssertEqual(f.alignment, 32)
        let emb = try XCTUnwrap(f.tensorInfo(named: "token_embd.weight"))
        XCTAssertEqual(emb.dims, [576, 49152])
        XCTAssertEqual(emb.type, .q8_0)
        XCTAssertEqual(emb.fileOffset, 1785664)  // gguf-py data_offset
        let m = try f.matrix(named: "blk.0.attn_k.weight")
        XCTAssertEqual(m.type, .q4_1)
        XCTAssertEqual(m.rows, 192)
        XCTAssertEqual(m.cols, 576)
        XCTAssertEqual(try f.floats(named: "blk.0.attn_norm.weight").count, 576)
        XCTAssertThrowsError(try f.matrix(named: "nope"))
    }
}
