import Foundation
import XCTest
@testable import LoRAKit

final class SafetensorsTests: XCTestCase {
    func testReadsFileWrittenByTheSafetensorsLibrary() throws {
        let f = try SafetensorsFile(path: fixturePath("gguf/tiny.safetensors"))
        struct Entry: Decodable { var shape: [Int]; var values: [Double] }
        let want = try JSONDecoder().decode([String: Entry].self,
                                            from: Data(contentsOf: URL(fileURLWithPath: fixturePath("gguf/tiny_safetensors.json"))))
        XCTAssertEqual(f.metadata, ["format": "pt", "note": "lorakit fixture"])
        XCTAssertEqual(Set(f.tensors.map(\.name)), ["w.f32", "w.f16", "w.bf16", "ids.i64"])
        XCTAssertEqual(f.tensorInfo(named: "w.f16")?.dtype, .f16)
        XCTAssertEqual(f.tensorInfo(named: "w.bf16")?.dtype, .bf16)
        XCTAssertEqual(f.tensorInfo(named: "ids.i64")?.dtype, .i64)
        for (name, e) in want {
            XCTAssertEqual(f.tensorInfo(named: name)?.shape, e.shape, name)
            XCTAssertEqual(try f.floats(named: name), e.values.map { Float($0) }, name)   // exact
        }
    }

    func testWriterRoundTrip() throws {
        let dir = try makeTempDir(self)
        var rng = TestRNG(seed: 42)
        let a = rng.matrix(3, 7), b = rng.matrix(5, 1), c = rng.matrix(2, 6)
        let w = SafetensorsWriter()
        w.metadata = ["format": "pt", "quote\"and\\slash": "ünïcode"]
        try w.add(name: "a", dtype: .f32, shape: [3, 7], values: a)
        try w.add(name: "b", dtype: .f16, shape: [5], values: b)
        try w.add(name: "c", dtype: .bf16, shape: [2, 3, 2], values: c)
        try w.add(name: "e", dtype: .f32, shape: [0, 4], values: [])
        XCTAssertThrowsError(try w.add(name: "a", shape: [1], values: [1]))
        XCTAssertThrowsError(try w.add(name: "x", shape: [2], values: [1]))
        try w.write(to: dir + "/m.safetensors")
        let f = try SafetensorsFile(path: dir + "/m.safetensors")
        XCTAssertEqual(f.metadata, w.metadata)
        XCTAssertEqual(f.tensors.map(\.name), ["a", "b", "c", "e"])
        XCTAssertEqual(f.tensorInfo(named: "c")?.shape, [2, 3, 2])
        XCTAssertEqual((f.tensors[0].fileOffset - 8) % 8, 0)   // header padded to 8 bytes
        XCTAssertEqual(try f.floats(named: "a"), a)
        XCTAssertEqual(try f.floats(named: "b"), b.map { FloatConversion.halfToFloat(FloatConversion.floatToHalf($0)) })
        XCTAssertEqual(try f.floats(named: "c"), c.map { FloatConversion.bf16ToFloat(FloatConversion.floatToBF16($0)) })
        XCTAssertEqual(try f.floats(named: "e"), [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["m.safetensors"])
    }

    func testShardedFolder() throws {
        let dir = try makeTempDir(self)
        for s in 1 ... 2 {
            let w = SafetensorsWriter()
            try w.add(name: "t\(s)", shape: [2], values: [Float(s), -Float(s)])
            try w.add(name: "stale", shape: [1], values: [Float(s)])   // only shard 2's copy is indexed
            try w.write(to: dir + "/model-0000\(s)-of-00002.safetensors")
        }
        try Data(#"{"metadata":{"total_size":20},"weight_map":{"t1":"model-00001-of-00002.safetensors","t2":"model-00002-of-00002.safetensors","stale":"model-00002-of-00002.safetensors"}}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/model.safetensors.index.json"))
        let m = try SafetensorsModel(directory: dir)
        XCTAssertEqual(m.files.count, 2)
        XCTAssertEqual(m.tensorNames, ["stale", "t1", "t2"])
        XCTAssertEqual(try m.floats(named: "t2"), [2, -2])
        XCTAssertEqual(try m.floats(named: "stale"), [2])
        // Without the index, a name in two shards is an error.
        try FileManager.default.removeItem(atPath: dir + "/model.safetensors.index.json")
        XCTAssertThrowsError(try SafetensorsModel(directory: dir)) { e in XCTAssertTrue("\(e)".contains("duplicate tensor name"), "\(e)") }
    }
}
