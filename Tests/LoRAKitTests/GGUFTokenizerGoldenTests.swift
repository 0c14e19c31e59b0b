import Foundation
import XCTest
@testable import LoRAKit

/// The Gemma 3 (SentencePiece BPE) and DeepSeek-R1-Distill-Qwen (Qwen2 byte-level BPE) tokenizers give
/// llama.cpp's ids (fixture gguf_corpus.json, from `llama-tokenize --no-escape`, scripts/fixtures/tokenizer_gguf.py)
/// on a mixed corpus. The tokenizers come from tokenizer-only GGUFs committed as fixtures, and from the real
/// model files when they are present.
final class GGUFTokenizerGoldenTests: XCTestCase {
    static func fixture(_ name: String) throws -> Tokenizer { try GGUFFixtureTokenizers.load(name) }

    static let corpus: [String: Any]? = try? GoldenFixture.json("tokenizer/gguf_corpus.json")

    static func modelPath(_ file: String, fetch: String) throws -> String {
        let path = NSHomeDirectory() + "/.cache/lorakit/models/" + file
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(file) not found; `scripts/fetch-model \(fetch)` fetches it (the fixture tokenizer is tested without it)")
        }
        return path
    }

    private func check(_ tok: Tokenizer, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let corpus = try XCTUnwrap(Self.corpus, "gguf_corpus.json missing", file: file, line: line)
        let strings = try XCTUnwrap(corpus["strings"] as? [String], file: file, line: line)
        let expected = (try XCTUnwrap(corpus[name] as? [Any], file: file, line: line)).map { GoldenFixture.ints($0) }
        XCTAssertGreaterThanOrEqual(strings.count, 200, file: file, line: line)
        XCTAssertEqual(expected.count, strings.count, file: file, line: line)
        let got = strings.map { tok.encode($0, addBOS: false) }
        let differ = strings.indices.filter { got[$0] != expected[$0] }
        for i in differ.prefix(5) {
            XCTFail("\(name) #\(i) \(strings[i].debugDescription.prefix(120)):\n got \(got[i].prefix(40))\nwant \(expected[i].prefix(40))",
                    file: file, line: line)
        }
        XCTAssertEqual(differ.count, 0, "\(name): \(differ.count) of \(strings.count) strings differ (\(corpus["reference"] ?? ""))",
                       file: file, line: line)
        // decode(encode(s)) == s, except that SentencePiece decodes a literal "▁" in the text as a space;
        // the token offsets end where the text does.
        let lossless = strings.indices.filter { !(tok.vocabulary.isSentencePiece && strings[$0].contains("\u{2581}")) }
        let broken = lossless.filter { tok.decodeBytes(got[$0]) != Array(strings[$0].utf8) }
        XCTAssertEqual(broken, [], "\(name): decode(encode(s)) != s", file: file, line: line)
        for i in lossless {
            let e = tok.encodeWithOffsets(strings[i], addBOS: false)
            XCTAssertEqual(e.ids, got[i], file: file, line: line)
            XCTAssertEqual(e.ends.last ?? 0, strings[i].utf8.count, "\(name) #\(i)", file: file, line: line)
        }
    }

    func testGemma3SentencePieceMatchesLlamaCpp() throws {
        let tok = try Self.fixture("gemma3")
        XCTAssertTrue(tok.vocabulary.isSentencePiece)
        XCTAssertNil(tok.preTokenizer)
        XCTAssertEqual(tok.vocabularySize, 262_144)
        XCTAssertTrue(tok.vocabulary.addBOS)
        XCTAssertFalse(tok.vocabulary.addSpacePrefix)
        try check(tok, "gemma3")
    }

    func testGemma3SpecialsBOSAndByteFallback() throws {
        let tok = try Self.fixture("gemma3")
        XCTAssertEqual(tok.encode("Hi").first, 2, "add_bos_token is true in the file")
        XCTAssertEqual(tok.encode("Hi", addBOS: false).first.map { $0 != 2 }, true)
        XCTAssertEqual(tok.specialTokenID("<start_of_turn>"), 105)
        XCTAssertEqual(tok.specialTokenID("<end_of_turn>"), 106)
        XCTAssertEqual(tok.encode("<start_of_turn>user\n", addBOS: false).prefix(1), [105])
        // Not parsed: the control token is spelled out, but user-defined "\n" still matches.
        let plain = tok.encode("<start_of_turn>\n", addBOS: false, parseSpecial: false)
        XCTAssertFalse(plain.contains(105))
        XCTAssertEqual(plain.last, 107)
        XCTAssertEqual(tok.decode(plain), "<start_of_turn>\n")
        // A character without a token falls back to <0xNN> byte tokens.
        let rare = "\u{10FFFD}"
        let ids = tok.encode(rare, addBOS: false)
        XCTAssertEqual(ids.count, 4)
        XCTAssertEqual(ids.compactMap { tok.tokenPiece($0) }, ["<0xF4>", "<0x8F>", "<0xBF>", "<0xBD>"])
        XCTAssertEqual(tok.decode(ids), rare)
    }

    func testGemma3FromTheModelFile() throws {
        let path = try Self.modelPath("gemma-3-270m-q4_k_m.gguf", fetch: "gemma3-270m")
        let tok = try Tokenizer(modelPath: path)
        XCTAssertEqual(tok.vocabulary, try Self.fixture("gemma3").vocabulary)
        try check(tok, "gemma3")
    }

    func testQwen2MatchesLlamaCpp() throws {
        let tok = try Self.fixture("qwen2")
        XCTAssertEqual(tok.preTokenizer, .qwen2, "pre 'deepseek-r1-qwen' is llama.cpp's alias of qwen2")
        XCTAssertEqual(tok.vocabulary.pre, "deepseek-r1-qwen")
        try check(tok, "qwen2")
    }

    func testQwen2FromTheHeaderOnlyFile() throws {
        let path = try Self.modelPath("DeepSeek-R1-Distill-Qwen-7B-Q4_K_M.header.gguf", fetch: "qwen2-7b-header")
        // The file stops inside the tensor data: the model cannot load, the tokenizer can.
        XCTAssertThrowsError(try GGUFFile(path: path))
        let tok = try Tokenizer(modelPath: path)
        XCTAssertEqual(tok.vocabularySize, 152_064)
        XCTAssertEqual(tok.vocabulary, try Self.fixture("qwen2").vocabulary)
        try check(tok, "qwen2")
    }

    /// SentencePiece merges a whole piece between special tokens at once (no pre-tokenizer): a heap keeps
    /// that O(n log n), also for a piece without spaces.
    func testSentencePieceLongPiecesAreNotQuadratic() throws {
        let tok = try Self.fixture("gemma3")
        let unit = "naïve_café的机器学习😀x=1234;"
        var times = [Double]()
        for n in [500, 1000, 2000] {
            let text = String(repeating: unit, count: n)
            let t0 = Date()
            let ids = tok.encode(text, addBOS: false)
            times.append(Date().timeIntervalSince(t0))
            XCTAssertEqual(tok.decode(ids), text)
        }
        print("gemma3 encode of a \(unit.utf8.count * 500)/…×4-byte piece without spaces: "
              + times.map { String(format: "%.3f s", $0) }.joined(separator: " / "))
        XCTAssertLessThan(times[2] / max(times[0], 1e-4), 8, "\(times)")
    }

    func testBrokenSentencePieceFieldsAreNamed() throws {
        var md: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("llama"),
            "tokenizer.ggml.tokens": .array([.string("<unk>"), .string("▁a")]),
            "tokenizer.ggml.scores": .array([.float32(0)]),
            "tokenizer.ggml.bos_token_id": .uint32(0),
        ]
        XCTAssertThrowsError(try BPEVocabulary(ggufMetadata: md)) {
            XCTAssertTrue("\($0)".contains("tokenizer.ggml.scores"), "\($0)")
        }
        md["tokenizer.ggml.scores"] = .array([.float32(0), .float32(-1)])
        let v = try BPEVocabulary(ggufMetadata: md)
        XCTAssertTrue(v.addBOS && v.addSpacePrefix, "llama.cpp's SentencePiece defaults")
        md["tokenizer.ggml.add_space_prefix"] = .string("yes")
        XCTAssertThrowsError(try BPEVocabulary(ggufMetadata: md)) {
            XCTAssertTrue("\($0)".contains("add_space_prefix"), "\($0)")
        }
    }

    func testSpacePrefixFollowsTheFile() throws {
        var v = try Self.fixture("gemma3").vocabulary
        v.addSpacePrefix = true
        let tok = try Tokenizer(v)
        let plain = try Self.fixture("gemma3")
        // With the prefix, "Hello" is encoded as "▁Hello" at the start and after each special token.
        XCTAssertEqual(tok.encode("Hello", addBOS: false), plain.encode(" Hello", addBOS: false))
        XCTAssertEqual(tok.encode("<start_of_turn>Hello", addBOS: false), [105] + plain.encode(" Hello", addBOS: false))
    }
}
