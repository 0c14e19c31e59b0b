import Foundation
import XCTest
@testable import LoRAKit

/// The gemma, qwen2.5, qwen3 and mistral templates render what transformers renders from the models'
/// own Jinja templates (fixture chat_templates.json, scripts/fixtures/tokenizer_gguf.py), record the
/// assistant spans TRL's training variants mark with `{% generation %}`, and mask the loss with them.
final class ChatTemplateGoldenTests: XCTestCase {
    struct Case {
        var template: String, messages: [ChatMessage], generationPrompt: Bool, rendered: String, spans: [Range<Int>]?
    }

    static func load() throws -> (templates: [String: String], cases: [Case]) {
        let obj = try GoldenFixture.json("tokenizer/chat_templates.json")
        let templates = try XCTUnwrap(obj["templates"] as? [String: String])
        let cases = try XCTUnwrap(obj["cases"] as? [[String: Any]]).map { c in
            Case(template: c["template"] as! String,
                 messages: (c["messages"] as! [[String: String]]).map { ChatMessage(role: $0["role"]!, content: $0["content"]!) },
                 generationPrompt: c["add_generation_prompt"] as! Bool, rendered: c["rendered"] as! String,
                 spans: (c["spans"] as? [[Int]]).map { $0.map { $0[0]..<$0[1] } })
        }
        return (templates, cases)
    }

    static let expected: [String: ChatTemplate] = [
        "gemma": .gemma, "qwen2.5": .chatml(defaultSystemPrompt: ChatTemplate.qwen25SystemPrompt), "qwen3": .qwen3, "mistral": .mistral,
        "deepseek-r1": .deepseekR1(thinkPrompt: false), "deepseek-r1-think": .deepseekR1(thinkPrompt: true),
    ]

    func testTemplatesAreDetectedAndNamed() throws {
        let (templates, _) = try Self.load()
        XCTAssertEqual(Set(templates.keys), Set(Self.expected.keys))
        for (name, text) in templates {
            XCTAssertEqual(try ChatTemplate(detecting: text), Self.expected[name], name)
            if name != "deepseek-r1" { XCTAssertEqual(try ChatTemplate(name: name.replacingOccurrences(of: "-think", with: "")), Self.expected[name], name) }
        }
        XCTAssertEqual(try ChatTemplate(name: "gemma3"), .gemma)
        XCTAssertEqual(try ChatTemplate(name: "qwen2"), .chatml(defaultSystemPrompt: ChatTemplate.qwen25SystemPrompt))
        // Gemma's GGUF carries no template: the architecture decides.
        let gemma = try GGUFFixtureTokenizers.load("gemma3").vocabulary
        XCTAssertNil(gemma.chatTemplate)
        XCTAssertEqual(gemma.architecture, "gemma3")
        XCTAssertEqual(try ChatTemplate(vocabulary: gemma), .gemma)
        XCTAssertEqual(try ChatTemplate(vocabulary: gemma, name: "chatml"), .chatml(defaultSystemPrompt: nil))
        // DeepSeek-R1-Distill-Qwen's GGUF carries DeepSeek's own template.
        let qwen = try GGUFFixtureTokenizers.load("qwen2").vocabulary
        XCTAssertEqual(try ChatTemplate(vocabulary: qwen), .deepseekR1(thinkPrompt: false))
        XCTAssertThrowsError(try ChatTemplate(detecting: "{{ messages }}")) {
            XCTAssertTrue("\($0)".contains("qwen2.5") && "\($0)".contains("deepseek-r1"), "\($0)")
        }
    }

    func testRenderingMatchesTransformersAndTRLSpans() throws {
        let (_, cases) = try Self.load()
        XCTAssertGreaterThanOrEqual(cases.count, 60)
        var spanCases = 0
        for c in cases {
            let t = try XCTUnwrap(Self.expected[c.template])
            let r = t.renderWithSpans(messages: c.messages, addGenerationPrompt: c.generationPrompt)
            XCTAssertEqual(r.text, c.rendered, "\(c.template) \(c.messages) gen=\(c.generationPrompt)")
            if let spans = c.spans {
                // TRL's Qwen2.5 training template opens its generation block before the "\n" that ends
                // "<|im_start|>assistant\n"; that newline is part of the generation prompt, so it is not learned here.
                let want = c.template == "qwen2.5" ? spans.map { ($0.lowerBound + 1)..<$0.upperBound } : spans
                XCTAssertEqual(r.assistantSpans, want, "\(c.template) \(c.messages)")
                spanCases += 1
            }
        }
        XCTAssertGreaterThanOrEqual(spanCases, 16)
    }

    /// The loss mask of each template covers the assistant spans: the learned tokens spell them.
    func testLossMaskingWithEachTemplate() throws {
        let (_, cases) = try Self.load()
        let gemma = try GGUFFixtureTokenizers.load("gemma3"), qwen = try GGUFFixtureTokenizers.load("qwen2")
        var checked = [String: Int]()
        for c in cases where !c.generationPrompt && c.messages.contains(where: { $0.role == "assistant" }) {
            let t = try XCTUnwrap(Self.expected[c.template])
            let tok = c.template == "gemma" || c.template == "mistral" ? gemma : qwen
            let (ids, mask) = TokenizedDataset.tokenize(.chat(c.messages), tok, t, eos: [], maskPrompt: true)
            let r = t.renderWithSpans(messages: c.messages, addGenerationPrompt: false)
            XCTAssertEqual(ids, tok.encode(r.text, addBOS: false))
            var learned = [Int32]()
            for (i, m) in mask.enumerated() where m == 1 { learned.append(ids[i]) }
            XCTAssertFalse(learned.isEmpty, "\(c.template) \(c.messages)")
            let bytes = Array(r.text.utf8)
            let starts = Set([0] + tok.encodeWithOffsets(r.text, addBOS: false).ends)
            if r.assistantSpans.allSatisfy({ starts.contains($0.lowerBound) }) {
                XCTAssertEqual(tok.decodeBytes(learned), r.assistantSpans.flatMap { bytes[$0] }, "\(c.template) \(c.messages)")
                checked[c.template, default: 0] += 1
            }
        }
        XCTAssertEqual(Set(checked.keys), Set(Self.expected.keys), "\(checked)")
        XCTAssertGreaterThanOrEqual(checked.values.reduce(0, +), 30, "\(checked)")
        // Through the dataset: a Gemma chat line learns "content<end_of_turn>\n" only, with one BOS from the template.
        let line = #"{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}"#
        let raw = try RawDataset(bytes: Array(line.utf8), path: "g.jsonl", policy: .fail)
        let d = try TokenizedDataset(raw, tokenizer: gemma, options: DatasetOptions(maskPrompt: true))
        let ex = d.examples[0]
        XCTAssertEqual(ex.tokens.filter { $0 == 2 }.count, 1)
        XCTAssertEqual(ex.tokens.first, 2)
        var learned = [Int32]()
        for (i, m) in ex.mask.enumerated() where m == 1 { learned.append(ex.tokens[i]) }
        XCTAssertEqual(gemma.decode(learned), "4<end_of_turn>\n")
    }

    func testGemmaAndMistralRefuseNonAlternatingTurnsAsTheirTemplatesDo() throws {
        let gemma = try GGUFFixtureTokenizers.load("gemma3")
        let lines = [#"{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}"#,
                     #"{"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}, {"role": "assistant", "content": "c"}]}"#]
        let raw = try RawDataset(bytes: Array(lines.joined(separator: "\n").utf8), path: "g.jsonl", policy: .fail)
        XCTAssertThrowsError(try TokenizedDataset(raw, tokenizer: gemma, options: DatasetOptions(maskPrompt: true))) {
            XCTAssertTrue("\($0)".hasPrefix("g.jsonl:2: the gemma template needs user and assistant turns to alternate"), "\($0)")
            XCTAssertTrue("\($0)".contains("message 1 is 'user'"), "\($0)")
        }
        let skipped = try TokenizedDataset(raw, tokenizer: gemma, options: DatasetOptions(badLines: .skip, chatTemplate: "mistral"))
        XCTAssertEqual(skipped.examples.map(\.line), [1])
        XCTAssertEqual(skipped.warnings.map(\.line), [2])
        XCTAssertNoThrow(try TokenizedDataset(raw, tokenizer: gemma, options: DatasetOptions(chatTemplate: "chatml")))
    }

    func testQwen3ThinkingAndGenerationPrompt() {
        let t = ChatTemplate.qwen3
        let msgs = [ChatMessage(role: "user", content: "Q"), ChatMessage(role: "assistant", content: "<think>\nwhy\n</think>\n\nA")]
        let r = t.renderWithSpans(messages: msgs, addGenerationPrompt: false)
        XCTAssertEqual(r.text, "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<think>\nwhy\n</think>\n\nA<|im_end|>\n")
        let b = Array(r.text.utf8)
        XCTAssertEqual(r.assistantSpans.map { String(decoding: b[$0], as: UTF8.self) }, ["<think>\nwhy\n</think>\n\nA<|im_end|>\n"])
        // Without reasoning the empty think block belongs to the prompt (the generation prompt ends with it).
        let plain = t.renderWithSpans(messages: [msgs[0], ChatMessage(role: "assistant", content: "A")], addGenerationPrompt: false)
        let pb = Array(plain.text.utf8)
        XCTAssertEqual(plain.assistantSpans.map { String(decoding: pb[$0], as: UTF8.self) }, ["A<|im_end|>\n"])
        XCTAssertTrue(t.render(messages: [msgs[0]], addGenerationPrompt: true).hasSuffix("<|im_start|>assistant\n<think>\n\n</think>\n\n"))
    }
}
