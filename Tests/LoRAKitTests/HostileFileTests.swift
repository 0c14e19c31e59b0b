import Foundation
import XCTest
@testable import LoRAKit

/// Builds GGUF bytes field by field so any field can be made wrong.
struct RawGGUF {
    struct Tensor { var name: String; var dims: [Int64]; var type: UInt32; var offset: UInt64; var nDims: UInt32? = nil }
    var magic = Array("GGUF".utf8)
    var version: UInt32 = 3
    var nTensors: Int64? = nil
    var nKV: Int64? = nil
    var kvs: [[UInt8]] = []
    var tensors: [Tensor] = []
    var dataBytes = 0
    var alignment = 32

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    static func str(_ s: String) -> [UInt8] { let u = Array(s.utf8); return le(UInt64(u.count)) + u }
    /// A key-value entry: key, type id, encoded value.
    static func kv(_ key: String, _ type: UInt32, _ value: [UInt8]) -> [UInt8] { str(key) + le(type) + value }
    static func kv(_ key: String, _ v: GGUFValue) -> [UInt8] {
        var out: [UInt8] = []
        v.encode(into: &out)
        return kv(key, v.kind.rawValue, out)
    }

    func bytes() -> [UInt8] {
        var b = magic + Self.le(version) + Self.le(nTensors ?? Int64(tensors.count)) + Self.le(nKV ?? Int64(kvs.count))
        for k in kvs { b += k }
        for t in tensors {
            b += Self.str(t.name) + Self.le(t.nDims ?? UInt32(t.dims.count))
            for d in t.dims { b += Self.le(d) }
            b += Self.le(t.type) + Self.le(t.offset)
        }
        while b.count % alignment != 0 { b.append(0) }
        b += (0 ..< dataBytes).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        return b
    }

    /// A valid file: two metadata keys and two tensors (Q8_0 [2, 64] and F32 [8]).
    static var valid: RawGGUF {
        var g = RawGGUF()
        g.kvs = [kv("general.architecture", .string("llama")), kv("llama.block_count", .uint32(1))]
        g.tensors = [Tensor(name: "a", dims: [64, 2], type: 8, offset: 0), Tensor(name: "b", dims: [8], type: 0, offset: 160)]
        g.dataBytes = 192
        return g
    }
}

final class HostileFileTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws { dir = try makeTempDir(self) }

    private func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let p = dir + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: p))
        return p
    }

    /// Asserts opening `bytes` as GGUF throws a FormatError whose description contains every `needle`.
    private func expectGGUFError(_ bytes: [UInt8], _ needles: [String], _ label: String, line: UInt = #line) throws {
        let p = try write(bytes, "h.gguf")
        do {
            _ = try GGUFFile(path: p)
            XCTFail("\(label): no error", line: line)
        } catch let e as FormatError {
            let d = e.description
            for n in needles { XCTAssertTrue(d.contains(n), "\(label): '\(d)' lacks '\(n)'", line: line) }
            XCTAssertTrue(d.contains(p), "\(label): '\(d)' does not name the file", line: line)
        }
    }

    func testValidBaselineParses() throws {
        let f = try GGUFFile(path: try write(RawGGUF.valid.bytes(), "ok.gguf"))
        XCTAssertEqual(f.tensors.map(\.byteCount), [136, 32])
        var v2 = RawGGUF.valid
        v2.version = 2
        XCTAssertEqual(try GGUFFile(path: try write(v2.bytes(), "v2.gguf")).version, 2)
    }

    func testHostileGGUF() throws {
        typealias T = RawGGUF.Tensor
        let big = Int64.max, huge = UInt64(1) << 63
        let cases: [(String, (inout RawGGUF) -> Void, [String])] = [
            ("bad magic", { $0.magic = Array("GGUX".utf8) }, ["bad magic"]),
            ("version 1", { $0.version = 1 }, ["version 1"]),
            ("version 4", { $0.version = 4 }, ["version 4"]),
            ("tensor count 2^63-1", { $0.nTensors = big }, ["tensor count", "offset 8"]),
            ("tensor count negative", { $0.nTensors = -1 }, ["tensor count"]),
            ("kv count huge", { $0.nKV = big }, ["metadata count", "offset 16"]),
            ("key length 2^63", { $0.kvs.insert(RawGGUF.le(huge) + [0, 0], at: 0) }, ["metadata key #0", "length 9223372036854775808"]),
            ("string value length 2^63", { $0.kvs.insert(RawGGUF.kv("x", 8, RawGGUF.le(huge)), at: 0) }, ["value of 'x'", "length"]),
            ("array count 2^63", { $0.kvs.insert(RawGGUF.kv("x", 9, RawGGUF.le(UInt32(0)) + RawGGUF.le(huge)), at: 0) }, ["array count", "length"]),
            ("string array count too big", { $0.kvs.insert(RawGGUF.kv("x", 9, RawGGUF.le(UInt32(8)) + RawGGUF.le(UInt64(1) << 40)), at: 0) }, ["array count"]),
            ("arrays nested 5 deep", {
                var v = GGUFValue.array([.uint8(1)])
                for _ in 0 ..< 4 { v = .array([v]) }
                $0.kvs.insert(RawGGUF.kv("deep", v), at: 0)
            }, ["nested deeper"]),
            ("unknown value type", { $0.kvs.insert(RawGGUF.kv("x", 13, [0]), at: 0) }, ["unknown value type id 13"]),
            ("bool byte 2", { $0.kvs.insert(RawGGUF.kv("x", 7, [2]), at: 0) }, ["bool byte is 2"]),
            ("duplicate key", { $0.kvs.append(RawGGUF.kv("llama.block_count", .uint32(2))) }, ["duplicate metadata key 'llama.block_count'"]),
            ("block_count as string", { $0.kvs[1] = RawGGUF.kv("llama.block_count", .string("30")) }, ["llama.block_count", "string", "integer"]),
            ("freq_base as string", { $0.kvs.append(RawGGUF.kv("llama.rope.freq_base", .string("1e4"))) }, ["llama.rope.freq_base"]),
            ("architecture as int", { $0.kvs[0] = RawGGUF.kv("general.architecture", .uint32(1)) }, ["general.architecture"]),
            ("tokens as int array", { $0.kvs.append(RawGGUF.kv("tokenizer.ggml.tokens", .array([.int32(1)]))) }, ["tokenizer.ggml.tokens"]),
            ("alignment 0", { $0.kvs.append(RawGGUF.kv("general.alignment", .uint32(0))) }, ["general.alignment"]),
            ("alignment 48", { $0.kvs.append(RawGGUF.kv("general.alignment", .uint32(48))) }, ["general.alignment"]),
            ("n_dims 5", { $0.tensors[0] = T(name: "a", dims: [64, 2, 1, 1, 1], type: 8, offset: 0) }, ["n_dims of tensor 'a'", "5 dimensions"]),
            ("n_dims 0", { $0.tensors[0] = T(name: "a", dims: [], type: 8, offset: 0) }, ["n_dims of tensor 'a'"]),
            ("n_dims huge", { $0.tensors[0].nDims = .max }, ["n_dims of tensor 'a'"]),
            ("dim 0", { $0.tensors[0].dims = [64, 0] }, ["dim 1 of tensor 'a'", "must be positive"]),
            ("dim negative", { $0.tensors[0].dims = [-64, 2] }, ["dim 0 of tensor 'a'", "must be positive"]),
            ("dims overflow", { $0.tensors[0].dims = [1 << 32, 1 << 32, 1 << 32] }, ["tensor 'a'", "overflows"]),
            ("unknown tensor type", { $0.tensors[0].type = 99 }, ["type of tensor 'a'", "unknown tensor type id 99"]),
            ("unsupported ggml type Q2_K", { $0.tensors[0].type = 10 }, ["type of tensor 'a'", "Q2_K (id 10) is not supported", "Q4_K"]),
            ("unsupported ggml type Q3_K", { $0.tensors[0].type = 11 }, ["Q3_K (id 11) is not supported"]),
            ("unsupported ggml type IQ4_NL", { $0.tensors[0].type = 20 }, ["IQ4_NL (id 20) is not supported"]),
            ("unsupported ggml type IQ4_XS", { $0.tensors[0].type = 23 }, ["IQ4_XS (id 23) is not supported"]),
            // K-quants: rows must be whole 256-element super-blocks; super-blocks must be whole.
            ("Q5_K row of 64", { $0.tensors[0].type = 13 }, ["dim 0 of tensor 'a'", "64 elements", "Q5_K block size 256"]),
            ("Q4_K row of 576", { $0.tensors[0] = T(name: "a", dims: [576, 1], type: 12, offset: 0) }, ["tensor 'a'", "Q4_K block size 256"]),
            ("Q6_K super-block truncated", { $0.tensors = [T(name: "a", dims: [256, 1], type: 14, offset: 0)]; $0.dataBytes = 209 },
             ["tensor 'a'", "+ 210 bytes", "past the end"]),
            ("Q5_K second row truncated", { $0.tensors = [T(name: "a", dims: [256, 2], type: 13, offset: 0)]; $0.dataBytes = 351 },
             ["tensor 'a'", "+ 352 bytes", "past the end"]),
            ("Q4_K super-blocks overlap", {
                $0.tensors = [T(name: "a", dims: [512, 1], type: 12, offset: 0), T(name: "b", dims: [256, 1], type: 12, offset: 256)]
                $0.dataBytes = 512
            }, ["tensor 'b'", "overlaps tensor 'a'"]),
            ("Q5_0 row of 48", { $0.tensors[0].type = 6; $0.tensors[0].dims = [48, 2] }, ["tensor 'a'", "Q5_0 block size 32"]),
            ("Q5_1 block truncated", { $0.tensors = [T(name: "a", dims: [64, 3], type: 7, offset: 0)]; $0.dataBytes = 143 },
             ["tensor 'a'", "+ 144 bytes", "past the end"]),
            ("row not a block multiple", { $0.tensors[0].dims = [48, 2] }, ["tensor 'a'", "not a multiple", "block size 32"]),
            ("misaligned offset", { $0.tensors[1].offset = 144 }, ["tensor 'b'", "alignment 32"]),
            ("offset out of bounds", { $0.tensors[1].offset = 192 }, ["tensor 'b'", "past the end"]),
            ("offset 2^63", { $0.tensors[1].offset = huge }, ["offset of tensor 'b'"]),
            ("offset near 2^61", { $0.tensors[1].offset = UInt64(1) << 61 }, ["tensor 'b'", "past the end"]),
            ("overlapping", { $0.tensors[1] = T(name: "b", dims: [8], type: 0, offset: 128) }, ["overlaps tensor 'a'"]),
            ("same offset", { $0.tensors[1] = T(name: "b", dims: [8], type: 0, offset: 0) }, ["overlaps"]),
            ("duplicate tensor name", { $0.tensors[1].name = "a" }, ["duplicate tensor name 'a'"]),
            ("empty tensor name", { $0.tensors[1].name = "" }, ["name of tensor #1", "empty"]),
            ("data section short", { $0.dataBytes = 100 }, ["past the end"]),
        ]
        let many = RawGGUF.le(UInt32(0)) + RawGGUF.le(UInt64((1 << 24) + 1)) + [UInt8](repeating: 0, count: (1 << 24) + 1)
        try expectGGUFError(RawGGUF(kvs: [RawGGUF.kv("big", 9, many)]).bytes(), ["array count", "limit"], "array over the item limit")
        for (label, mutate, needles) in cases {
            var g = RawGGUF.valid
            mutate(&g)
            try expectGGUFError(g.bytes(), needles, label)
        }
    }

    func testTruncatedGGUFAtEveryOffset() throws {
        let full = RawGGUF.valid.bytes()
        for n in 0 ..< full.count {
            let p = try write(Array(full[0 ..< n]), "t.gguf")
            XCTAssertThrowsError(try GGUFFile(path: p), "cut at \(n)") { e in
                XCTAssertTrue(e is FormatError, "cut at \(n): \(e)")
                if n >= 4, n < 120 { XCTAssertTrue("\(e)".contains("offset"), "cut at \(n): \(e)") }
            }
        }
    }

    func testTruncatedSmolLM2HeaderAtManyOffsets() throws {
        let path = try smolLM2Path()
        let all = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        let f = try GGUFFile(path: path)
        var cuts = [0, 3, 4, 7, 8, 15, 16, 23, 24, 30, 100, 1000, f.dataOffset - 1, f.dataOffset, f.dataOffset + 1, all.count - 1]
        var rng = SystemRandomNumberGenerator()
        for _ in 0 ..< 40 { cuts.append(Int.random(in: 0 ..< f.dataOffset, using: &rng)) }
        for n in cuts {
            let p = try write([UInt8](all[0 ..< n]), "cut.gguf")
            XCTAssertThrowsError(try GGUFFile(path: p), "cut at \(n)") { e in XCTAssertTrue(e is FormatError, "\(e)") }
        }
    }

    // MARK: safetensors

    /// Builds safetensors bytes from a header JSON string and a data section.
    private func rawSafetensors(_ json: String, data: Int, headerLength: UInt64? = nil) -> [UInt8] {
        let h = Array(json.utf8)
        return RawGGUF.le(headerLength ?? UInt64(h.count)) + h + [UInt8](repeating: 7, count: data)
    }

    private func expectSTError(_ bytes: [UInt8], _ needles: [String], _ label: String, line: UInt = #line) throws {
        let p = try write(bytes, "h.safetensors")
        do {
            _ = try SafetensorsFile(path: p)
            XCTFail("\(label): no error", line: line)
        } catch let e as FormatError {
            for n in needles { XCTAssertTrue(e.description.contains(n), "\(label): '\(e)' lacks '\(n)'", line: line) }
        }
    }

    func testHostileSafetensors() throws {
        let ok = #"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},"b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]}}"#
        XCTAssertEqual(try SafetensorsFile(path: try write(rawSafetensors(ok, data: 32), "ok.safetensors")).tensors.count, 2)
        let cases: [(String, [UInt8], [String])] = [
            ("header length 2^63", rawSafetensors(ok, data: 32, headerLength: 1 << 63), ["header length", "9223372036854775808"]),
            ("header length 200 MB", rawSafetensors(ok, data: 32, headerLength: 200 << 20), ["header length"]),
            ("header length past the end", rawSafetensors(ok, data: 32, headerLength: 5000), ["JSON header", "truncated"]),
            ("not JSON", rawSafetensors("{nope", data: 0), ["not a JSON object"]),
            ("JSON array", rawSafetensors("[1,2]", data: 0), ["not a JSON object"]),
            ("unknown dtype", rawSafetensors(#"{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,4]}}"#, data: 4), ["tensor 'a'", "unknown dtype 'F7'"]),
            ("shape vs bytes", rawSafetensors(#"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}}"#, data: 20), ["tensor 'a'", "needs 24 bytes"]),
            ("negative shape", rawSafetensors(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4), ["tensor 'a'", "non-negative"]),
            ("shape overflow", rawSafetensors(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#, data: 4), ["overflows"]),
            ("gap", rawSafetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8), ["tensor 'a'", "gap"]),
            ("overlap", rawSafetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8), ["overlaps"]),
            ("out of bounds", rawSafetensors(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: 8), ["tensor 'a'", "past the end"]),
            ("trailing bytes", rawSafetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 12), ["8 bytes after the last tensor"]),
            ("bad offsets", rawSafetensors(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, data: 8), ["data_offsets"]),
            ("deeply nested JSON", rawSafetensors(String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000), data: 0), ["JSON header"]),
            ("nested tensor entry", rawSafetensors(#"{"a":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}}"#, data: 4), ["tensor 'a'", "shape"]),
            ("metadata not strings", rawSafetensors(#"{"__metadata__":{"x":1}}"#, data: 0), ["__metadata__.x"]),
        ]
        for (label, bytes, needles) in cases { try expectSTError(bytes, needles, label) }

        let full = rawSafetensors(ok, data: 32)
        for n in 0 ..< full.count {
            let p = try write(Array(full[0 ..< n]), "t.safetensors")
            XCTAssertThrowsError(try SafetensorsFile(path: p), "cut at \(n)") { e in XCTAssertTrue(e is FormatError, "\(e)") }
        }
    }

    func testUnsupportedDTypeIsValidatedButRefusedOnRead() throws {
        let p = try write(rawSafetensors(#"{"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}}"#, data: 16), "i.safetensors")
        let f = try SafetensorsFile(path: p)
        XCTAssertThrowsError(try f.floats(named: "ids")) { e in XCTAssertTrue("\(e)".contains("dtype I64"), "\(e)") }
    }

    func testHostileShardIndex() throws {
        let w = SafetensorsWriter()
        try w.add(name: "x", shape: [2], values: [1, 2])
        try w.write(to: dir + "/model-00001-of-00001.safetensors")
        let idx = dir + "/model.safetensors.index.json"
        try Data(#"{"weight_map":{"x":"../etc/passwd"}}"#.utf8).write(to: URL(fileURLWithPath: idx))
        XCTAssertThrowsError(try SafetensorsModel(directory: dir)) { e in XCTAssertTrue("\(e)".contains("same folder"), "\(e)") }
        try Data(#"{"weight_map":{"x":"model-00001-of-00001.safetensors","y":"model-00001-of-00001.safetensors"}}"#.utf8).write(to: URL(fileURLWithPath: idx))
        XCTAssertThrowsError(try SafetensorsModel(directory: dir)) { e in XCTAssertTrue("\(e)".contains("tensor 'y'"), "\(e)") }
        try Data(#"{"weight_map":{"x":"missing.safetensors"}}"#.utf8).write(to: URL(fileURLWithPath: idx))
        XCTAssertThrowsError(try SafetensorsModel(directory: dir)) { e in XCTAssertTrue("\(e)".contains("missing.safetensors"), "\(e)") }
    }
}
