import Foundation
import XCTest
@testable import LoRAKit

/// Unit behaviour of the tokenizer: special tokens, decoding, pre-tokenizer splits, long inputs.
final class TokenizerTests: XCTestCase {
    func testByteLevelAlphabetIsABijection() {
        let all = (0..<256).map { UInt8($0) }
        let s = ByteLevel.encode(all)
        XCTAssertEqual(ByteLevel.decode(s), all)
        XCTAssertEqual(ByteLevel.encode(Array(" ".utf8)), "Ġ")
        XCTAssertEqual(ByteLevel.encode(Array("\n".utf8)), "Ċ")
        XCTAssertNil(ByteLevel.decode("€"))
    }

    func testPreTokenizerSplits() {
        XCTAssertEqual(PreTokenizer.gpt2.split("Hello world's  123 !!"), ["Hello", " world", "'s", " ", " 123", " !!"])
        XCTAssertEqual(PreTokenizer.smollm.split("ab 123x"), ["ab", " ", "1", "2", "3", "x"])
        XCTAssertEqual(PreTokenizer.llamaBPE.split("I'LL pay 12345 (now)\n\n  ok"),
                       ["I", "'LL", " pay", " ", "123", "45", " (", "now", ")\n\n", " ", " ok"])
        XCTAssertEqual(PreTokenizer.qwen2.split("12a"), ["1", "2", "a"])
        XCTAssertThrowsError(try PreTokenizer(name: "bloom")) {
            XCTAssertEqual($0 as? TokenizerError, .unknownPreTokenizer("bloom"))
        }
    }

    func testSpecialTokensAreWholeTokensOnlyWhenParsed() throws {
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        let ids = tok.encode("<|im_start|>user\nhi<|im_end|>")
        XCTAssertEqual(ids.first, 1)
        XCTAssertEqual(ids.last, 2)
        XCTAssertEqual(tok.specialTokenID("<|im_end|>"), 2)
        XCTAssertNil(tok.specialTokenID("<|im_end|"))
        let plain = tok.encode("<|im_start|>", parseSpecial: false)
        XCTAssertFalse(plain.contains(1))
        XCTAssertGreaterThan(plain.count, 1)
        XCTAssertEqual(tok.decode(plain), "<|im_start|>")
        XCTAssertEqual(tok.tokenPiece(1), "<|im_start|>")
        XCTAssertNil(tok.tokenPiece(-1))
        XCTAssertNil(tok.tokenPiece(1 << 20))
    }

    func testDecodeReassemblesUTF8AcrossTokens() throws {
        let tok = try XCTUnwrap(FixtureTokenizers.llama3)
        let s = "日本語 😀👨‍👩‍👧 é"
        let ids = tok.encode(s, addBOS: false)
        XCTAssertEqual(tok.decode(ids), s)
        var bytes = [UInt8]()
        for id in ids { bytes += tok.decodeBytes([id]) }   // one token at a time: partial characters
        XCTAssertEqual(bytes, Array(s.utf8))
        XCTAssertEqual(tok.decode([-5, 999_999]), "")
    }

    func testLongWordsAndWhitespaceRunsAreFast() throws {
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        let clock = ContinuousClock()
        let t = clock.measure {
            for s in [String(repeating: "a", count: 200_000), String(repeating: " ", count: 200_000),
                      String(repeating: "ab\u{301}", count: 50_000), String(repeating: "\n \t", count: 50_000)] {
                XCTAssertEqual(tok.decode(tok.encode(s)), s)
            }
        }
        XCTAssertLessThan(t, .seconds(20), "long inputs took \(t)")
    }

    func testConcurrentEncodingAgreesWithSerial() throws {
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        let strings = Array(try XCTUnwrap(FixtureTokenizers.corpus).strings.prefix(400))
        let serial = strings.map { tok.encode($0) }
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: 4 * strings.count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for (i, s) in strings.enumerated() { results[t * strings.count + i] = tok.encode(s) }
        }
        for t in 0..<4 { XCTAssertEqual(Array(results[(t * strings.count)..<((t + 1) * strings.count)]), serial) }
    }

    func testTokenizerJSONErrors() throws {
        func load(_ json: String) throws -> BPEVocabulary { try BPEVocabulary(tokenizerJSON: Data(json.utf8), source: "t.json") }
        XCTAssertThrowsError(try load("{not json")) { XCTAssertTrue("\($0)".contains("t.json"), "\($0)") }
        XCTAssertThrowsError(try load(#"{"model":{"type":"Unigram"}}"#)) {
            XCTAssertEqual($0 as? TokenizerError, .unsupportedModel("Unigram"))
        }
        let vocab = #""vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]"#
        XCTAssertThrowsError(try load(#"{"model":{"type":"BPE",\#(vocab)},"pre_tokenizer":{"type":"Whitespace"}}"#)) {
            guard case .unknownPreTokenizer(let d)? = $0 as? TokenizerError else { return XCTFail("\($0)") }
            XCTAssertTrue(d.contains("Whitespace"))
        }
        let ok = try load(#"{"model":{"type":"BPE",\#(vocab)},"pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true},"added_tokens":[{"id":3,"content":"<s>","special":true}]}"#)
        XCTAssertEqual(ok.pre, "gpt2")
        XCTAssertEqual(ok.tokens, ["a", "b", "ab", "<s>"])
        XCTAssertEqual(ok.tokenTypes, [1, 1, 1, 3])
        XCTAssertFalse(ok.normalizeNFC)
        XCTAssertThrowsError(try load(#"{"model":{"type":"BPE","vocab":{"a":0,"b":99999999999},"merges":[]}}"#)) {
            XCTAssertTrue("\($0)".contains("99999999999"), "\($0)")
        }
        let bl = #""pre_tokenizer":{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}"#
        XCTAssertTrue(try load(#"{"model":{"type":"BPE",\#(vocab)},\#(bl),"normalizer":{"type":"NFC"}}"#).normalizeNFC)
        XCTAssertThrowsError(try load(#"{"model":{"type":"BPE",\#(vocab)},\#(bl),"normalizer":{"type":"NFKC"}}"#)) {
            XCTAssertTrue("\($0)".contains("NFKC"), "\($0)")
        }
    }
}
