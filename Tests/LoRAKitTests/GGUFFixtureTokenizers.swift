import Foundation
import XCTest
@testable import LoRAKit

/// Tokenizers of the tokenizer-only GGUF fixtures (Tests/Fixtures/tokenizer/<name>/tokenizer.gguf, written by
/// scripts/fixtures/tokenizer_gguf.py): "gemma3" (SentencePiece) and "qwen2" (DeepSeek-R1-Distill-Qwen), built once.
enum GGUFFixtureTokenizers {
    static let cache = LockedBox<[String: Tokenizer]>([:])

    static func load(_ name: String) throws -> Tokenizer {
        try cache.withLock { cache in
            if let t = cache[name] { return t }
            let t = try Tokenizer(modelPath: tokenizerFixtures.appendingPathComponent("\(name)/tokenizer.gguf").path)
            cache[name] = t
            return t
        }
    }
}
