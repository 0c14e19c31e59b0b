import Foundation
import XCTest
@testable import LoRAKit

/// Loss masks of chat examples come from one rendering and one tokenization (token offsets map the
/// assistant spans to tokens): the same ids as tokenizing the whole rendering, the same mask as the
/// former prefix-rendering method, and linear time in the conversation's length.
final class ChatMaskingTests: XCTestCase {
    /// The former method: render every prefix, tokenize it, learn tokens between the prompt (with
    /// generation header) and the end of the assistant turn. Quadratic; kept here as the reference.
    static func prefixMask(_ msgs: [ChatMessage], _ t: ChatTemplate, _ tok: Tokenizer) -> [UInt8] {
        let full = t.render(messages: msgs, addGenerationPrompt: false)
        let n = tok.encode(full, addBOS: false).count
        var m = [UInt8](repeating: 0, count: n)
        for (i, msg) in msgs.enumerated() where msg.role == "assistant" {
            let before = t.render(messages: Array(msgs[..<i]), addGenerationPrompt: true)
            let through = t.render(messages: Array(msgs[...i]), addGenerationPrompt: false)
            guard full.hasPrefix(before), full.hasPrefix(through) else { continue }
            let a = tok.encode(before, addBOS: false).count, b = min(tok.encode(through, addBOS: false).count, n)
            if a < b { for j in a..<b { m[j] = 1 } }
        }
        return m
    }

    static func fixtureConversations() throws -> [[ChatMessage]] {
        let obj = try GoldenFixture.json("tokenizer/chat.json")
        let cases = try XCTUnwrap(obj["cases"] as? [[String: Any]])
        return cases.compactMap { c in
            (c["messages"] as? [[String: String]])?.map { ChatMessage(role: $0["role"]!, content: $0["content"]!) }
        }
    }

    func testOneRenderingGivesTheWholeRenderingsIdsAndThePrefixMask() throws {
        let cases: [(Tokenizer?, [ChatTemplate])] = [
            (FixtureTokenizers.smollm, [.chatml(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt), .chatml(defaultSystemPrompt: nil)]),
            (FixtureTokenizers.llama3, [.llama3, .llama31(todayDate: ChatTemplate.llama31DefaultDate)]),
        ]
        let convs = try Self.fixtureConversations()
        XCTAssertGreaterThanOrEqual(convs.count, 10)
        var checked = 0, exact = 0
        for (tok, templates) in cases {
            let tok = try XCTUnwrap(tok)
            for t in templates {
                for msgs in convs where msgs.contains(where: { $0.role == "assistant" }) {
                    let r = t.renderWithSpans(messages: msgs, addGenerationPrompt: false)
                    XCTAssertEqual(r.text, t.render(messages: msgs, addGenerationPrompt: false))
                    let (ids, mask) = TokenizedDataset.tokenize(.chat(msgs), tok, t, eos: [], maskPrompt: true)
                    XCTAssertEqual(ids, tok.encode(r.text, addBOS: false), "\(t.name) \(msgs)")
                    XCTAssertEqual(mask, Self.prefixMask(msgs, t, tok), "\(t.name) \(msgs)")
                    // The learned tokens spell exactly the assistant spans (when no token straddles a span's
                    // start, as "\n\n" does for content that opens with a newline after "assistant\n").
                    var learned = [Int32]()
                    for (i, m) in mask.enumerated() where m == 1 { learned.append(ids[i]) }
                    let bytes = Array(r.text.utf8)
                    let starts = Set(tok.encodeWithOffsets(r.text, addBOS: false).ends)
                    if r.assistantSpans.allSatisfy({ starts.contains($0.lowerBound) }) {
                        XCTAssertEqual(tok.decodeBytes(learned), r.assistantSpans.flatMap { bytes[$0] })
                        exact += 1
                    }
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThanOrEqual(checked, 40)
        XCTAssertGreaterThan(exact, checked * 3 / 4)
    }

    func testOffsetsCoverTheTextAndKeepTheIds() throws {
        let corpus = try XCTUnwrap(FixtureTokenizers.corpus)
        let toks: [(String, Tokenizer?)] = [("smollm", FixtureTokenizers.smollm), ("llama3", FixtureTokenizers.llama3)]
        var nfcVocab = try XCTUnwrap(FixtureTokenizers.llamaVocab)
        nfcVocab.pre = "qwen2"
        nfcVocab.normalizeNFC = true
        for (name, tok) in toks + [("qwen2_nfc", try Tokenizer(nfcVocab))] {
            let tok = try XCTUnwrap(tok)
            for s in corpus.strings.prefix(600) {
                let e = tok.encodeWithOffsets(s, addBOS: false)
                XCTAssertEqual(e.ids, tok.encode(s, addBOS: false), name)
                XCTAssertEqual(e.ends.count, e.ids.count)
                XCTAssertEqual(zip(e.ends, e.ends.dropFirst()).allSatisfy { $0 <= $1 }, true, name)
                if let last = e.ends.last, tok.decodeBytes(e.ids) == Array(s.utf8) {  // SmolLM2 drops a few control bytes
                    XCTAssertEqual(last, s.utf8.count, "\(name) \(s.debugDescription.prefix(80))")
                }
                if name == "llama3" {          // every byte has a token: each token spells its range
                    let b = Array(s.utf8)
                    for i in e.ids.indices where tok.decodeBytes([e.ids[i]]) != Array(b[e.start(i)..<e.ends[i]]) {
                        XCTFail("\(name) \(s.debugDescription.prefix(80)) token \(i)"); break
                    }
                }
            }
        }
    }

    func testLongConversationIsLinear() throws {
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        let t = ChatTemplate.chatml(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt)
        func conversation(_ n: Int) -> [ChatMessage] {
            (0..<n).map { i in
                i % 2 == 0 ? ChatMessage(role: "user", content: "Question \(i): how far is planet \(i % 97) from its star?")
                    : ChatMessage(role: "assistant", content: "Planet \(i % 97) orbits at \(i * 7 % 1000) million km, answer \(i).")
            }
        }
        var times = [Double]()
        for n in [1500, 3000, 6000] {
            let msgs = conversation(n)
            var best = Double.infinity
            for _ in 0..<2 {
                let t0 = Date()
                let (ids, mask) = TokenizedDataset.tokenize(.chat(msgs), tok, t, eos: [], maskPrompt: true)
                best = min(best, Date().timeIntervalSince(t0))
                XCTAssertEqual(ids.count, mask.count)
                XCTAssertEqual(mask.filter { $0 == 1 }.isEmpty, false)
            }
            times.append(best)
        }
        print("chat masking 1.5k / 3k / 6k messages: " + times.map { String(format: "%.3f s", $0) }.joined(separator: " / "))
        // Linear: ×4 messages ⇒ ~×4 time (quadratic was ×9.4). A generous bound for shared, noisy cores.
        XCTAssertLessThan(times[2] / max(times[0], 1e-4), 7, "\(times)")
        XCTAssertLessThan(times[2], 3.0, "\(times)")
    }

    func raw(_ lines: [String], _ policy: BadLinePolicy = .fail) throws -> RawDataset {
        try RawDataset(bytes: Array(lines.joined(separator: "\n").utf8), path: "c.jsonl", policy: policy)
    }

    func testShareGPTLinesMapHumanAndGpt() throws {
        let r = try raw([#"{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]}"#,
                         #"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#])
        XCTAssertEqual(r.format, .chat)
        XCTAssertEqual(r.records[0], .chat([ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi"),
                                            ChatMessage(role: "assistant", content: "Hello")]))
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        let d = try TokenizedDataset(r, tokenizer: tok, options: DatasetOptions(maskPrompt: true, chatTemplate: "chatml"))
        var learned = [Int32]()
        for (i, m) in d.examples[0].mask.enumerated() where m == 1 { learned.append(d.examples[0].tokens[i]) }
        XCTAssertEqual(tok.decode(learned), "Hello<|im_end|>\n")
    }

    func testUnknownRolesAndMissingAssistantTurnsNameTheLine() throws {
        let ok = #"{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}"#
        let cases: [(String, LineProblem, String)] = [
            (#"{"messages": [{"role": "human", "content": "q"}, {"role": "gpt", "content": "a"}]}"#,
             .unknownRole(field: "messages[0].role", role: "human", shareGPT: false), "'messages[0].role' is 'human', not a known role"),
            (#"{"conversations": [{"from": "human", "value": "q"}, {"from": "bot", "value": "a"}]}"#,
             .unknownRole(field: "conversations[1].from", role: "bot", shareGPT: true), "not a known ShareGPT speaker"),
            (#"{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}"#,
             .noAssistantTurn(count: 2), "has no assistant turn"),
            (#"{"conversations": [{"from": "human", "value": "q"}]}"#, .noAssistantTurn(count: 1), "has no assistant turn"),
        ]
        for (line, problem, text) in cases {
            XCTAssertThrowsError(try raw([ok, line])) {
                XCTAssertEqual($0 as? DatasetError, .badLine(file: "c.jsonl", line: 2, problem: problem))
                XCTAssertTrue("\($0)".hasPrefix("c.jsonl:2: ") && "\($0)".contains(text), "\($0)")
            }
            let skipped = try raw([ok, line], .skip)
            XCTAssertEqual(skipped.records.count, 1)
            XCTAssertEqual(skipped.warnings, [DatasetWarning(file: "c.jsonl", line: 2, problem: problem)])
        }
        XCTAssertThrowsError(try raw([#"{"messages": [{"role": "gpt", "content": "a"}]}"#])) {
            XCTAssertTrue("\($0)".contains("ShareGPT"), "\($0)")
        }
    }
}
