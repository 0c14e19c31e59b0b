import Foundation
import XCTest
@testable import LoRAKit

/// The vocabulary read from the SmolLM2 GGUF equals the tokenizer.json one and encodes the corpus alike.
final class TokenizerGGUFTests: XCTestCase {
    static var modelPath: String {
        ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
            ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    func testSmolLM2FromGGUF() throws {
        let path = Self.modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("model not found at \(path); run scripts/fetch-model or set LORAKIT_MODEL")
        }
        let v = try BPEVocabulary(modelPath: path)
        XCTAssertEqual(v.pre, "smollm")
        XCTAssertEqual(v.count, 49152)
        XCTAssertEqual(v.bosID, 1)
        XCTAssertEqual(v.eosID, 2)
        XCTAssertEqual(v.padID, 2)
        XCTAssertFalse(v.addBOS)
        XCTAssertEqual(try ChatTemplate(vocabulary: v), .chatml(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt))
        let json = try XCTUnwrap(FixtureTokenizers.smolVocab)
        XCTAssertEqual(v.tokens, json.tokens)
        XCTAssertEqual(v.merges, json.merges)
        XCTAssertEqual(v.tokenTypes, json.tokenTypes)
        XCTAssertEqual([v.bosID, v.eosID, v.padID], [json.bosID, json.eosID, json.padID])
        XCTAssertEqual(v.chatTemplate, json.chatTemplate)
        XCTAssertEqual(v.addBOS, json.addBOS)

        let tok = try Tokenizer(v)
        let corpus = try XCTUnwrap(FixtureTokenizers.corpus)
        let want = try XCTUnwrap(corpus.ids["smollm"])
        var bad = 0
        for (i, s) in corpus.strings.enumerated() where tok.encode(s) != want[i] { bad += 1 }
        XCTAssertEqual(bad, 0)
    }

    private func metadata(pre: String = "smollm", model: String = "gpt2") -> [String: GGUFValue] {
        let bytes = (0..<256).map { GGUFValue.string(String(Character(ByteLevel.byteToScalar[$0]))) }
        return ["tokenizer.ggml.model": .string(model),
                "tokenizer.ggml.tokens": .array(bytes + [.string("ab"), .string("<|end|>")]),
                "tokenizer.ggml.token_type": .array([GGUFValue](repeating: .int32(1), count: 257) + [.int32(3)]),
                "tokenizer.ggml.merges": .array([.string("a b")]),
                "tokenizer.ggml.pre": .string(pre),
                "tokenizer.ggml.eos_token_id": .uint32(257)]
    }

    func testSmallGGUFVocabulary() throws {
        let tok = try Tokenizer(BPEVocabulary(ggufMetadata: metadata()))
        let ab = Int32(256), end = Int32(257)
        let a = Int32(ByteLevel.byteToScalar.firstIndex(of: "a")!)
        XCTAssertEqual(tok.encode("abab<|end|>a"), [ab, ab, end, a])
        XCTAssertEqual(tok.decode(tok.encode("xab<|end|>")), "xab<|end|>")
        XCTAssertEqual(tok.encode("<|end|>", parseSpecial: false).count, 7)
        // User-defined tokens are matched even when special tokens are not parsed.
        var md = metadata()
        md["tokenizer.ggml.token_type"] = .array([GGUFValue](repeating: .int32(1), count: 257) + [.int32(4)])
        let user = try Tokenizer(BPEVocabulary(ggufMetadata: md))
        XCTAssertEqual(user.encode("x<|end|>", parseSpecial: false).last, end)
    }

    func testGGUFErrors() throws {
        XCTAssertThrowsError(try Tokenizer(BPEVocabulary(ggufMetadata: metadata(pre: "falcon")))) {
            XCTAssertEqual($0 as? TokenizerError, .unknownPreTokenizer("falcon"))
            XCTAssertTrue("\($0)".contains("smollm"), "\($0)")
        }
        XCTAssertThrowsError(try BPEVocabulary(ggufMetadata: metadata(model: "t5"))) {
            XCTAssertEqual($0 as? TokenizerError, .unsupportedModel("t5"))
        }
        var md = metadata()
        md["tokenizer.ggml.tokens"] = nil
        XCTAssertThrowsError(try BPEVocabulary(ggufMetadata: md)) {
            XCTAssertEqual($0 as? TokenizerError, .missingField("tokenizer.ggml.tokens"))
        }
        md = metadata()
        md["tokenizer.ggml.merges"] = .uint32(3)
        XCTAssertThrowsError(try BPEVocabulary(ggufMetadata: md)) { XCTAssertTrue("\($0)".contains("merges"), "\($0)") }
        md = metadata()
        md["tokenizer.ggml.merges"] = .array([.string("a q")])
        XCTAssertThrowsError(try Tokenizer(BPEVocabulary(ggufMetadata: md))) {
            XCTAssertEqual($0 as? TokenizerError, .invalidMerge(index: 0, merge: "a q"))
        }
        md = metadata()
        md["tokenizer.ggml.bos_token_id"] = .uint32(9999)
        XCTAssertThrowsError(try BPEVocabulary(ggufMetadata: md)) { XCTAssertTrue("\($0)".contains("bos_token_id"), "\($0)") }
        md = metadata()
        md["tokenizer.ggml.token_type"] = .array([.int32(1)])
        XCTAssertThrowsError(try BPEVocabulary(ggufMetadata: md)) { XCTAssertTrue("\($0)".contains("token_type"), "\($0)") }
    }
}
