import Foundation
import XCTest
@testable import LoRAKit

/// The tokenizer.json a merge writes for a SentencePiece vocabulary (Gemma 3's, from the tokenizer-only fixture).
/// Its ids were checked against llama-tokenize on the mixed corpus with Hugging Face `tokenizers`
/// (scripts/check_hf_tokenizer.py on the file this test writes when LORAKIT_EXPORT_TOKENIZER names a path);
/// this test checks the parts that decide them.
final class SentencePieceExportTests: XCTestCase {
    func testGemmaTokenizerJSON() throws {
        let v = try GGUFFixtureTokenizers.load("gemma3").vocabulary
        XCTAssertTrue(v.isSentencePiece)
        let f = SentencePieceTokenizerFile(v)
        XCTAssertEqual(f.vocab.count, v.tokens.count)
        XCTAssertGreaterThan(f.merges.count, 200_000)
        // The best-scored merges come first; every merge joins two vocabulary pieces into a third (bytewise).
        var ids: [[UInt8]: Int] = [:]
        for (p, i) in f.vocab { ids[Array(p.utf8)] = i }
        let firstScores = f.merges.prefix(2000).map { m -> Float in
            let id = ids[Array((m.left + m.right).utf8)]
            XCTAssertNotNil(id, "\(m)")
            return v.scores[id ?? 0]
        }
        XCTAssertEqual(firstScores, firstScores.sorted(by: >))
        let added = Dictionary(f.added.map { ($0.content, $0.special) }, uniquingKeysWith: { a, _ in a })
        XCTAssertEqual(added["<start_of_turn>"], true)
        XCTAssertEqual(added["\n\n"], false, "user-defined pieces are matched, not special")
        XCTAssertEqual(f.bos?.id, v.bosID, "BOS added as the file says")
        // Canonically equivalent pieces (U+09DF and U+09AF U+09BC) stay two entries; the JSON parses.
        XCTAssertEqual(Set(f.vocab.map { Array($0.piece.utf8) }).count, v.tokens.count)
        let data = f.json()
        XCTAssertNoThrow(try JSONSerialization.jsonObject(with: data))
        if let out = ProcessInfo.processInfo.environment["LORAKIT_EXPORT_TOKENIZER"] { try data.write(to: URL(fileURLWithPath: out)) }
    }

    func testJSONQuoting() {
        XCTAssertEqual(SentencePieceTokenizerFile.quote("a\"b\\c\n\u{1}▁"), "\"a\\\"b\\\\c\\n\\u0001▁\"")
    }
}
