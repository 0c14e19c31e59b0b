import Foundation
import XCTest
@testable import LoRAKit

/// Folder of the tokenizer fixtures (made by scripts/fixtures/tokenizer.py).
let tokenizerFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Fixtures/tokenizer")

/// Tokenizers are expensive to build; the tests share them.
enum FixtureTokenizers {
    static let smolVocab: BPEVocabulary? = try? BPEVocabulary(
        tokenizerJSONPath: tokenizerFixtures.appendingPathComponent("smollm2/tokenizer.json").path)
    static let llamaVocab: BPEVocabulary? = try? BPEVocabulary(
        tokenizerJSONPath: tokenizerFixtures.appendingPathComponent("llama3/tokenizer.json").path)
    static let smollm: Tokenizer? = smolVocab.flatMap { try? Tokenizer($0) }
    static let llama3: Tokenizer? = llamaVocab.flatMap { try? Tokenizer($0) }

    static func with(_ v: BPEVocabulary?, pre: String) -> Tokenizer? {
        guard var v else { return nil }
        v.pre = pre
        return try? Tokenizer(v)
    }

    /// The corpus strings and, per tokenizer name, the Hugging Face ids.
    static let corpus: (strings: [String], ids: [String: [[Int32]]])? = {
        guard let data = try? Data(contentsOf: tokenizerFixtures.appendingPathComponent("corpus.json")),
              let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let strings = obj["strings"] as? [String] else { return nil }
        var ids = [String: [[Int32]]]()
        for (k, v) in obj where k != "strings" {
            if let lists = v as? [[NSNumber]] { ids[k] = lists.map { $0.map { Int32(truncating: $0) } } }
            else if let one = v as? [NSNumber] { ids[k] = [one.map { Int32(truncating: $0) }] }
        }
        return (strings, ids)
    }()
}

/// Token ids equal those of Hugging Face `tokenizers` on a corpus of 2,200 varied strings.
final class TokenizerGoldenTests: XCTestCase {
    private func check(_ tok: Tokenizer?, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let tok = try XCTUnwrap(tok, "tokenizer \(name) failed to load", file: file, line: line)
        let corpus = try XCTUnwrap(FixtureTokenizers.corpus, "corpus.json missing", file: file, line: line)
        let expected = try XCTUnwrap(corpus.ids[name], file: file, line: line)
        XCTAssertGreaterThanOrEqual(corpus.strings.count, 2000)
        // Strings with bytes the vocabulary lacks (SmolLM2 has no token for a few control bytes):
        // Hugging Face drops those bytes, so only their ids are compared.
        let lossy = Set((corpus.ids[name + "_lossy"]?.first ?? []).map(Int.init))
        var mismatches = 0, roundTripFailures = 0
        for (i, s) in corpus.strings.enumerated() {
            let ids = tok.encode(s, addBOS: false)
            if ids != expected[i] {
                mismatches += 1
                if mismatches <= 5 {
                    XCTFail("\(name) #\(i) \(s.debugDescription.prefix(200)):\n got \(ids.prefix(40))\nwant \(expected[i].prefix(40))",
                            file: file, line: line)
                }
            }
            if !lossy.contains(i) && tok.decodeBytes(ids) != Array(s.utf8) {
                roundTripFailures += 1
                if roundTripFailures <= 3 { XCTFail("\(name) #\(i) round trip failed", file: file, line: line) }
            }
        }
        XCTAssertEqual(mismatches, 0, "\(name): \(mismatches) of \(corpus.strings.count) strings differ", file: file, line: line)
        XCTAssertEqual(roundTripFailures, 0, file: file, line: line)
    }

    func testSmolLM2() throws { try check(FixtureTokenizers.smollm, "smollm") }
    func testGPT2PreTokenizerOnSmolLM2Vocabulary() throws {
        try check(FixtureTokenizers.with(FixtureTokenizers.smolVocab, pre: "gpt2"), "gpt2")
    }
    func testLlama3() throws { try check(FixtureTokenizers.llama3, "llama3") }
    func testQwen2PreTokenizerOnLlama3Vocabulary() throws {
        try check(FixtureTokenizers.with(FixtureTokenizers.llamaVocab, pre: "qwen2"), "qwen2")
    }

    func testQwen2WithNFCNormalizer() throws {
        var v = try XCTUnwrap(FixtureTokenizers.llamaVocab)
        v.normalizeNFC = true
        try check(FixtureTokenizers.with(v, pre: "qwen2"), "qwen2_nfc")
    }

    func testLlama3AddsBOSByDefault() throws {
        let tok = try XCTUnwrap(FixtureTokenizers.llama3)
        let want = try XCTUnwrap(FixtureTokenizers.corpus?.ids["llama3_bos"]?.first)
        XCTAssertTrue(tok.vocabulary.addBOS)
        XCTAssertEqual(tok.vocabulary.bosID, 128000)
        XCTAssertEqual(tok.encode("Hello world"), want)
        XCTAssertEqual(tok.encode("Hello world", addBOS: false), Array(want.dropFirst()))
    }
}
