import Foundation
import XCTest
@testable import LoRAKit

/// Reading JSONL datasets: formats, folders, every bad-line kind under both policies, empty data.
final class DatasetTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-ds-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    @discardableResult
    func write(_ name: String, _ lines: [String]) throws -> String {
        let url = dir.appendingPathComponent(name)
        try Data(lines.joined(separator: "\n").utf8).write(to: url)
        return url.path
    }

    func testFormatsAreDetectedPerFile() throws {
        let t = try RawDataset(path: write("t.jsonl", [#"{"text": "hello"}"#, "", #"{"text": "world", "extra": 1}"#]), policy: .fail)
        XCTAssertEqual(t.format, .text)
        XCTAssertEqual(t.records, [.text("hello"), .text("world")])
        XCTAssertEqual(t.lines, [1, 3])
        let c = try RawDataset(path: write("c.jsonl", [#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#]), policy: .fail)
        XCTAssertEqual(c.format, .chat)
        XCTAssertEqual(c.records, [.chat([ChatMessage(role: "user", content: "hi"), ChatMessage(role: "assistant", content: "yo")])])
        let p = try RawDataset(path: write("p.jsonl", [#"{"prompt": "2+2=", "completion": "4"}"#, "{\"prompt\": \"\", \"completion\": \"x\"}\r"]), policy: .fail)
        XCTAssertEqual(p.format, .promptCompletion)
        XCTAssertEqual(p.records, [.promptCompletion(prompt: "2+2=", completion: "4"), .promptCompletion(prompt: "", completion: "x")])
    }

    /// Each bad-line kind: (line, expected problem).
    let badLines: [(String, LineProblem)] = [
        (#"{"text": "ok" "#, .invalidJSON("")),
        (#"[1, 2]"#, .notAnObject),
        (#"{"txt": "typo"}"#, .missingField("text")),
        (#"{"text": 42}"#, .wrongType(field: "text", expected: "a string")),
        (#"{"text": ""}"#, .emptyText(field: "text")),
        (#"{"text": null}"#, .missingField("text")),
    ]

    func testEachBadLineKindFailsWithFileAndLine() throws {
        for (i, (line, problem)) in badLines.enumerated() {
            let path = try write("bad\(i).jsonl", [#"{"text": "fine"}"#, line, #"{"text": "also fine"}"#])
            XCTAssertThrowsError(try RawDataset(path: path, policy: .fail)) { error in
                guard case .badLine(let file, let l, let p)? = error as? DatasetError else { return XCTFail("\(error)") }
                XCTAssertEqual(file, path)
                XCTAssertEqual(l, 2)
                if case .invalidJSON = problem { if case .invalidJSON = p {} else { XCTFail("\(p)") } } else { XCTAssertEqual(p, problem) }
                XCTAssertTrue("\(error)".hasPrefix("\(path):2: "), "\(error)")
            }
            let skipped = try RawDataset(path: path, policy: .skip)
            XCTAssertEqual(skipped.records, [.text("fine"), .text("also fine")])
            XCTAssertEqual(skipped.warnings.map(\.line), [2])
            XCTAssertTrue(skipped.warnings[0].description.contains("bad\(i).jsonl:2"))
        }
    }

    func testByteOrderMarkIsIgnored() throws {
        let r = try RawDataset(bytes: [0xEF, 0xBB, 0xBF] + Array(#"{"text": "bom"}"#.utf8), path: "b.jsonl", policy: .fail)
        XCTAssertEqual(r.records, [.text("bom")])
    }

    func testInvalidUTF8() throws {
        var bytes = Array(#"{"text": "a"}"#.utf8) + [0x0A]
        bytes += Array(#"{"text": "caf"#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
        XCTAssertThrowsError(try RawDataset(bytes: bytes, path: "u.jsonl", policy: .fail)) {
            XCTAssertEqual($0 as? DatasetError, .badLine(file: "u.jsonl", line: 2, problem: .invalidUTF8))
        }
        XCTAssertEqual(try RawDataset(bytes: bytes, path: "u.jsonl", policy: .skip).warnings,
                       [DatasetWarning(file: "u.jsonl", line: 2, problem: .invalidUTF8)])
    }

    func testChatAndPromptCompletionBadLines() throws {
        let cases: [(String, LineProblem)] = [
            (#"{"messages": "hi"}"#, .wrongType(field: "messages", expected: "an array")),
            (#"{"messages": []}"#, .emptyText(field: "messages")),
            (#"{"messages": [{"role": "user"}]}"#, .missingField("messages[0].content")),
            (#"{"messages": [{"content": "x"}]}"#, .missingField("messages[0].role")),
            (#"{"messages": [{"role": "user", "content": 3}]}"#, .wrongType(field: "messages[0].content", expected: "a string")),
            (#"{"messages": [7]}"#, .wrongType(field: "messages[0]", expected: "an object")),
            (#"{"text": "wrong format for this file"}"#, .missingField("messages")),
        ]
        for (line, problem) in cases {
            let bytes = Array((#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"# + "\n" + line).utf8)
            XCTAssertThrowsError(try RawDataset(bytes: bytes, path: "c.jsonl", policy: .fail), line) {
                XCTAssertEqual($0 as? DatasetError, .badLine(file: "c.jsonl", line: 2, problem: problem), line)
            }
        }
        let bytes = Array((#"{"prompt": "p", "completion": "c"}"# + "\n" + #"{"prompt": "p"}"# + "\n" + #"{"prompt": "p", "completion": ""}"#).utf8)
        let r = try RawDataset(bytes: bytes, path: "p.jsonl", policy: .skip)
        XCTAssertEqual(r.warnings.map(\.problem), [.missingField("completion"), .emptyText(field: "completion")])
        XCTAssertThrowsError(try RawDataset(bytes: Array(#"{"foo": 1}"#.utf8), path: "x.jsonl", policy: .fail)) {
            XCTAssertEqual($0 as? DatasetError, .badLine(file: "x.jsonl", line: 1, problem: .unknownFormat(keys: ["foo"])))
        }
    }

    func testEmptyDatasetIsAnError() throws {
        XCTAssertThrowsError(try RawDataset(path: write("e.jsonl", ["", "  "]), policy: .skip)) {
            XCTAssertEqual($0 as? DatasetError, .empty(path: self.dir.appendingPathComponent("e.jsonl").path, skippedLines: 0))
        }
        XCTAssertThrowsError(try RawDataset(path: write("allbad.jsonl", ["{", "[]"]), policy: .skip)) {
            guard case .empty(_, 2)? = $0 as? DatasetError else { return XCTFail("\($0)") }
        }
    }

    func testFolderResolution() throws {
        XCTAssertThrowsError(try DatasetFiles(path: dir.path)) { XCTAssertEqual($0 as? DatasetError, .noTrainFile(folder: self.dir.path)) }
        let train = try write("train.jsonl", [#"{"text": "a b c"}"#])
        let valid = try write("valid.jsonl", [#"{"text": "d e f"}"#])
        XCTAssertEqual(try DatasetFiles(path: dir.path), DatasetFiles(train: train, valid: valid, test: nil))
        XCTAssertEqual(try DatasetFiles(path: train), DatasetFiles(train: train))
        XCTAssertThrowsError(try DatasetFiles(path: dir.path + "/nope")) {
            XCTAssertEqual($0 as? DatasetError, .notFound(path: self.dir.path + "/nope"))
        }
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        let data = try TrainingData(path: dir.path, tokenizer: tok, options: DatasetOptions())
        XCTAssertEqual(data.train.examples.count, 1)
        XCTAssertEqual(data.valid?.examples.count, 1)
        XCTAssertNil(data.test)
        XCTAssertTrue(data.train.summary.hasSuffix("train.jsonl: 1 text examples, 4 tokens (4 targets)"), data.train.summary)
    }
}
