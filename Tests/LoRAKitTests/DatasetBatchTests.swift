import Foundation
import XCTest
@testable import LoRAKit

/// Tokenized examples (loss masks, truncation) and the batch iterator (targets, packing, shuffling, resume).
final class DatasetBatchTests: XCTestCase {
    var tok: Tokenizer!
    override func setUpWithError() throws { tok = try XCTUnwrap(FixtureTokenizers.smollm) }

    func raw(_ lines: [String]) throws -> RawDataset {
        try RawDataset(bytes: Array(lines.joined(separator: "\n").utf8), path: "mem.jsonl", policy: .fail)
    }

    func testTextGetsEOSAndFullLoss() throws {
        let d = try TokenizedDataset(raw([#"{"text": "Hello world"}"#]), tokenizer: tok, options: DatasetOptions())
        XCTAssertEqual(d.examples[0].tokens, [19556, 905, 2])
        XCTAssertEqual(d.examples[0].mask, [1, 1, 1])
        XCTAssertEqual(d.examples[0].line, 1)
    }

    func testPromptMasking() throws {
        let r = try raw([#"{"prompt": "Hello", "completion": " world"}"#])
        let masked = try TokenizedDataset(r, tokenizer: tok, options: DatasetOptions(maskPrompt: true))
        XCTAssertEqual(masked.examples[0].tokens, [19556, 905, 2])
        XCTAssertEqual(masked.examples[0].mask, [0, 1, 1])
        let full = try TokenizedDataset(r, tokenizer: tok, options: DatasetOptions(maskPrompt: false))
        XCTAssertEqual(full.examples[0].mask, [1, 1, 1])
    }

    func testChatMaskCoversAssistantTurnsOnly() throws {
        let line = #"{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello there"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Bye now"}]}"#
        let d = try TokenizedDataset(raw([line]), tokenizer: tok, options: DatasetOptions(maskPrompt: true))
        let ex = d.examples[0]
        let t = ChatTemplate.chatml(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt)
        let msgs = [ChatMessage(role: "user", content: "Hi"), ChatMessage(role: "assistant", content: "Hello there"),
                    ChatMessage(role: "user", content: "Bye"), ChatMessage(role: "assistant", content: "Bye now")]
        XCTAssertEqual(ex.tokens, tok.encode(t.render(messages: msgs, addGenerationPrompt: false)))
        // The learned text is exactly the assistant contents with their end-of-turn tokens.
        var learned = [Int32]()
        for (i, m) in ex.mask.enumerated() where m == 1 { learned.append(ex.tokens[i]) }
        XCTAssertEqual(tok.decode(learned), "Hello there<|im_end|>\nBye now<|im_end|>\n")
        XCTAssertEqual(d.targetCount, learned.count)
    }

    func testLlama3ChatMask() throws {
        let llama = try XCTUnwrap(FixtureTokenizers.llama3)
        let line = #"{"messages": [{"role": "system", "content": "Short answers."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": " 6 "}]}"#
        for name in ["llama3", "llama3.1"] {
            let d = try TokenizedDataset(raw([line]), tokenizer: llama, options: DatasetOptions(maskPrompt: true, chatTemplate: name))
            let ex = d.examples[0]
            XCTAssertEqual(ex.tokens.first, 128000)
            XCTAssertEqual(ex.tokens.filter { $0 == 128000 }.count, 1, "one BOS, from the template")
            var learned = [Int32]()
            for (i, m) in ex.mask.enumerated() where m == 1 { learned.append(ex.tokens[i]) }
            XCTAssertEqual(llama.decode(learned), "4<|eot_id|>6<|eot_id|>", name)
        }
    }

    func testChatNeedsAKnownTemplate() throws {
        var v = try XCTUnwrap(FixtureTokenizers.smolVocab)
        v.chatTemplate = "{{ messages }} [INST]"
        let odd = try Tokenizer(v)
        let r = try raw([#"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#])
        XCTAssertThrowsError(try TokenizedDataset(r, tokenizer: odd, options: DatasetOptions())) {
            guard case .chatTemplate(let p, let m)? = $0 as? DatasetError else { return XCTFail("\($0)") }
            XCTAssertEqual(p, "mem.jsonl")
            XCTAssertTrue(m.contains("[INST]") && m.contains("chatml"), m)
        }
        XCTAssertNoThrow(try TokenizedDataset(r, tokenizer: odd, options: DatasetOptions(chatTemplate: "chatml")))
    }

    func testTruncationIsCountedAndNothingToLearnIsReported() throws {
        let long = String(repeating: "word ", count: 100)
        let r = try raw([#"{"text": "\#(long)"}"#, #"{"text": "short"}"#])
        let d = try TokenizedDataset(r, tokenizer: tok, options: DatasetOptions(contextLength: 16))
        XCTAssertEqual(d.truncatedCount, 1)
        XCTAssertEqual(d.examples[0].tokens.count, 17)
        let packed = try TokenizedDataset(r, tokenizer: tok, options: DatasetOptions(contextLength: 16, packing: true))
        XCTAssertEqual(packed.truncatedCount, 0)
        XCTAssertEqual(packed.examples[0].tokens.count, tok.encode(long).count + 1)
        // A masked prompt longer than the context leaves nothing to learn.
        let pc = try raw([#"{"prompt": "\#(long)", "completion": "x"}"#, #"{"prompt": "a", "completion": "b"}"#])
        XCTAssertThrowsError(try TokenizedDataset(pc, tokenizer: tok, options: DatasetOptions(maskPrompt: true, contextLength: 16))) {
            XCTAssertEqual($0 as? DatasetError, .badLine(file: "mem.jsonl", line: 1, problem: .nothingToLearn))
        }
        let skipped = try TokenizedDataset(pc, tokenizer: tok, options: DatasetOptions(badLines: .skip, maskPrompt: true, contextLength: 16))
        XCTAssertEqual(skipped.examples.map(\.line), [2])
        XCTAssertEqual(skipped.warnings, [DatasetWarning(file: "mem.jsonl", line: 1, problem: .nothingToLearn)])
    }

    func dataset(_ n: Int) throws -> TokenizedDataset {
        try TokenizedDataset(raw((0..<n).map { #"{"text": "example number \#($0) says hi"}"# }), tokenizer: tok,
                             options: DatasetOptions(contextLength: 64))
    }

    func testTargetsAreNextTokensOrMinusOne() throws {
        let d = try TokenizedDataset(raw([#"{"prompt": "a b", "completion": " c d"}"#]), tokenizer: tok,
                                     options: DatasetOptions(maskPrompt: true))
        let ex = d.examples[0]
        var it = try BatchIterator(dataset: d, batchSize: 2, sequenceLength: 8, shuffle: false, padID: 2)
        let b = it.next()
        XCTAssertEqual(Array(b.tokens[0..<ex.tokens.count]), ex.tokens)
        for i in 0..<8 {
            let want: Int32 = i + 1 < ex.tokens.count && ex.mask[i + 1] == 1 ? ex.tokens[i + 1] : -1
            XCTAssertEqual(b.targets[i], want, "position \(i)")
        }
        XCTAssertTrue(b.tokens[ex.tokens.count..<16].allSatisfy { $0 == 2 })
        XCTAssertTrue(b.targets[8..<16].allSatisfy { $0 == -1 })
        XCTAssertEqual(b.targetCount, ex.mask.dropFirst().filter { $0 == 1 }.count)
        XCTAssertTrue(b.endsEpoch)
        XCTAssertEqual(b.position, DataPosition(epoch: 1, index: 0))
    }

    func testShuffleIsSeededAndPortable() throws {
        XCTAssertEqual(DataShuffleRNG.order(count: 10, seed: 42, epoch: 0), [8, 3, 6, 5, 4, 0, 9, 2, 1, 7])
        XCTAssertEqual(DataShuffleRNG.order(count: 10, seed: 42, epoch: 1), [5, 9, 6, 4, 1, 3, 0, 8, 2, 7])
        let d = try dataset(10)
        var a = try BatchIterator(dataset: d, batchSize: 3, sequenceLength: 16, seed: 42)
        var b = try BatchIterator(dataset: d, batchSize: 3, sequenceLength: 16, seed: 42)
        var c = try BatchIterator(dataset: d, batchSize: 3, sequenceLength: 16, seed: 43)
        let x = a.next()
        XCTAssertEqual(x, b.next())
        XCTAssertNotEqual(x.tokens, c.next().tokens)
        XCTAssertEqual(Array(x.tokens[0..<d.examples[8].tokens.count]), d.examples[8].tokens)
    }

    func testPackedRowsFollowTheStream() throws {
        let d = try dataset(5)
        let stream = d.examples.flatMap(\.tokens), mask = d.examples.flatMap(\.mask)
        let offset = d.examples.flatMap { ex in (0..<ex.tokens.count).map { Int32($0) } }   // position in its example
        var it = try BatchIterator(dataset: d, batchSize: 3, sequenceLength: 7, packing: true, shuffle: false)
        var row = 0
        var done = false
        while !done {
            let b = it.next()
            done = b.endsEpoch
            for r in 0..<3 {
                for i in 0..<7 {
                    let p = (row + r) * 7 + i
                    XCTAssertEqual(b.tokens[r * 7 + i], p < stream.count ? stream[p] : 0, "row \(row + r) col \(i)")
                    let want: Int32 = p + 1 < stream.count && mask[p + 1] == 1 && offset[p + 1] > 0 ? stream[p + 1] : -1
                    XCTAssertEqual(b.targets[r * 7 + i], want, "row \(row + r) col \(i)")
                    if p < stream.count { XCTAssertEqual(b.positions[r * 7 + i], offset[p], "row \(row + r) col \(i)") }
                }
            }
            row += 3
        }
        XCTAssertGreaterThanOrEqual(row * 7, stream.count - 1)
    }

    func testEpochCoverageAndResume() throws {
        for packing in [false, true] {
            let d = try dataset(7)
            var it = try BatchIterator(dataset: d, batchSize: 2, sequenceLength: 8, packing: packing, seed: 5)
            var all = [TokenBatch]()
            var positions = [DataPosition]()
            for _ in 0..<(2 * it.batchesPerEpoch + 1) { positions.append(it.position); all.append(it.next()) }
            // Every target of an epoch, gathered, is every masked token of the dataset.
            let perEpoch = all.prefix { !$0.endsEpoch }.reduce(0) { $0 + $1.targetCount }
                + (all.first { $0.endsEpoch }?.targetCount ?? 0)
            // Packed or not, each example's first token is never a target (packed examples are kept apart).
            let want = d.examples.reduce(0) { $0 + $1.mask.dropFirst().filter { $0 == 1 }.count }
            XCTAssertEqual(perEpoch, want, "packing \(packing)")
            XCTAssertEqual(all.filter(\.endsEpoch).count, 2, "packing \(packing)")
            // Resuming from any saved position yields the same next batch, also through JSON.
            for k in [1, 3, all.count - 2] {
                let json = try JSONEncoder().encode(positions[k])
                let pos = try JSONDecoder().decode(DataPosition.self, from: json)
                var resumed = try BatchIterator(dataset: d, batchSize: 2, sequenceLength: 8, packing: packing, seed: 5, start: pos)
                XCTAssertEqual(resumed.next(), all[k], "packing \(packing) batch \(k)")
            }
        }
        XCTAssertThrowsError(try BatchIterator(dataset: dataset(3), batchSize: 0, sequenceLength: 8))
        XCTAssertThrowsError(try BatchIterator(dataset: dataset(3), batchSize: 1, sequenceLength: 8, start: DataPosition(index: 9)))
    }
}
