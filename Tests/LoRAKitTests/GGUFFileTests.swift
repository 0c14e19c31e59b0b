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

final class GGUFWriterTests: XCTestCase {
    func testRoundTripAllValueTypesAndTensors() throws {
        let dir = try makeTempDir(self)
        let path = dir + "/t.gguf"
        let w = try GGUFWriter(alignment: 64)
        let values: [(String, GGUFValue)] = [
            ("a.u8", .uint8(200)), ("a.i8", .int8(-5)), ("a.u16", .uint16(60000)), ("a.i16", .int16(-30000)),
            ("a.u32", .uint32(4_000_000_000)), ("a.i32", .int32(-2_000_000_000)), ("a.f32", .float32(1.5)),
            ("a.bool", .bool(true)), ("a.str", .string("héllo ✓")), ("a.u64", .uint64(.max)), ("a.i64", .int64(.min)),
            ("a.f64", .float64(-2.25)), ("a.strs", .array([.string("x"), .string(""), .string("zz")])),
            ("a.nested", .array([.array([.int32(1), .int32(2)]), .array([.int32(3)])])),
            ("a.empty", .array([])),
        ]
        for (k, v) in values { try w.set(k, v) }
        XCTAssertThrowsError(try w.set("a.u8", .uint8(1)))
        XCTAssertThrowsError(try w.set("a.mixed", .array([.int32(1), .string("x")])))
        var rng = SystemRandomNumberGenerator()
        let t1 = (0 ..< 34 * 3 * 2).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }   // Q8_0 [2, 96]
        let t2 = (0 ..< 7 * 4).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }        // F32 [7]
        try w.addTensor(name: "m", dims: [96, 2], type: .q8_0, bytes: t1)
        try w.addTensor(name: "v", dims: [7], type: .f32) { emit in
            try t2.withUnsafeBytes { b in
                try emit(UnsafeRawBufferPointer(rebasing: b[0 ..< 5]))
                try emit(UnsafeRawBufferPointer(rebasing: b[5...]))
            }
        }
        XCTAssertThrowsError(try w.addTensor(name: "m", dims: [32], type: .q8_0, bytes: []))
        XCTAssertThrowsError(try w.addTensor(name: "bad", dims: [33], type: .q8_0, bytes: []))
        try w.write(to: path)

        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.metadataKeys, ["general.alignment"] + values.map(\.0))
        for (k, v) in values { XCTAssertEqual(f.metadata[k], v, k) }
        XCTAssertEqual(f.metadata["a.strs"]?.stringArray, ["x", "", "zz"])
        XCTAssertEqual(f.metadata["a.i64"]?.int, Int.min)
        XCTAssertNil(f.metadata["a.u64"]?.int)
        XCTAssertEqual(f.dataOffset % 64, 0)
        XCTAssertEqual(f.tensors.map(\.name), ["m", "v"])
        XCTAssertEqual(f.tensors[1].offset % 64, 0)
        let m = try f.matrix(named: "m")
        XCTAssertEqual([m.rows, m.cols], [2, 96])
        XCTAssertEqual(m.withUnsafeBytes { Array(UnsafeRawBufferPointer(start: $0, count: m.byteCount)) }, t1)
        XCTAssertEqual(try f.tensorBytes(named: "v").withUnsafeBytes { Array($0) }, t2)
        let fl = try f.floats(named: "v")
        XCTAssertEqual(fl.map(\.bitPattern), t2.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) })
        // No temporary files are left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["t.gguf"])
    }

    func testMatrixAndFloatConveniences() throws {
        let dir = try makeTempDir(self)
        let src = try GGUFFile(path: try smolLM2Path())
        let k = try src.matrix(named: "blk.0.attn_k.weight")
        let w = try GGUFWriter()
        try w.addTensor(name: "k", matrix: k)
        try w.addTensor(name: "f", dims: [3, 2], values: [1, 2, 3, 4, 5, -6])
        XCTAssertThrowsError(try w.addTensor(name: "g", dims: [3], values: [1]))
        try w.write(to: dir + "/c.gguf")
        let f = try GGUFFile(path: dir + "/c.gguf")
        XCTAssertEqual(try f.floats(named: "f"), [1, 2, 3, 4, 5, -6])
        let k2 = try f.matrix(named: "k")
        XCTAssertEqual([k2.rows, k2.cols], [192, 576])
        XCTAssertEqual(k2.type, .q4_1)
        XCTAssertEqual(try f.tensorBytes(named: "k").withUnsafeBytes { Array($0) }, try src.tensorBytes(named: "blk.0.attn_k.weight").withUnsafeBytes { Array($0) })
    }

    func testStreamedSizeMismatchFailsAndLeavesNoFile() throws {
        let dir = try makeTempDir(self)
        let w = try GGUFWriter()
        try w.addTensor(name: "v", dims: [4], type: .f32) { emit in
            try [UInt8](repeating: 1, count: 12).withUnsafeBytes { try emit($0) }
        }
        XCTAssertThrowsError(try w.write(to: dir + "/x.gguf")) { e in
            XCTAssertTrue("\(e)".contains("needs 16"), "\(e)")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testHalfAndBF16Conversions() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0 ..< 20000 {
            let h = UInt16.random(in: 0 ... .max, using: &rng)
            let f = FloatConversion.halfToFloat(h)
            if f.isNaN { continue }
            XCTAssertEqual(FloatConversion.floatToHalf(f), h)   // exact round trip
            let b = FloatConversion.bf16ToFloat(h)
            if !b.isNaN { XCTAssertEqual(FloatConversion.floatToBF16(b), h) }
        }
        XCTAssertEqual(FloatConversion.halfToFloat(0x3c00), 1)
        XCTAssertEqual(FloatConversion.halfToFloat(0x0001), Float(bitPattern: 0x3380_0000))
        XCTAssertEqual(FloatConversion.floatToHalf(65520), 0x7c00)      // rounds to inf
        XCTAssertEqual(FloatConversion.floatToHalf(1 + 1.0 / 2048), 0x3c00)  // tie to even
        XCTAssertEqual(FloatConversion.floatToBF16(1 + 1.0 / 256), 0x3f80)   // tie to even
        #if arch(x86_64) || arch(arm64)
        for _ in 0 ..< 20000 {
            let f = Float(bitPattern: UInt32.random(in: 0 ... .max, using: &rng))
            if f.isNaN { continue }
            XCTAssertEqual(FloatConversion.floatToHalf(f), Float16(f).bitPattern, "\(f)")
        }
        #endif
    }
}
