import Foundation
import XCTest
@testable import LoRAKit

/// Chat rendering equals transformers' `apply_chat_template` (fixture chat.json, SmolLM2's template).
final class ChatTemplateTests: XCTestCase {
    func testSmolLM2MatchesTransformers() throws {
        let data = try Data(contentsOf: tokenizerFixtures.appendingPathComponent("chat.json"))
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let template = try ChatTemplate(detecting: try XCTUnwrap(obj["template"] as? String))
        XCTAssertEqual(template, .chatml(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt))
        let cases = try XCTUnwrap(obj["cases"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for (i, c) in cases.enumerated() {
            let msgs = try XCTUnwrap(c["messages"] as? [[String: String]]).map {
                ChatMessage(role: $0["role"]!, content: $0["content"]!)
            }
            let gen = try XCTUnwrap(c["add_generation_prompt"] as? Bool)
            XCTAssertEqual(template.render(messages: msgs, addGenerationPrompt: gen), c["rendered"] as? String, "case \(i)")
        }
    }

    func testDetectionAndNames() throws {
        XCTAssertEqual(try ChatTemplate(name: "chatml"), .chatml(defaultSystemPrompt: nil))
        XCTAssertEqual(try ChatTemplate(name: "smollm2"), .chatml(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt))
        XCTAssertEqual(try ChatTemplate(name: "llama3"), .llama3)
        XCTAssertThrowsError(try ChatTemplate(name: "vicuna")) {
            XCTAssertEqual($0 as? TokenizerError, .unknownChatTemplateName("vicuna"))
            XCTAssertTrue("\($0)".contains("chatml"), "\($0)")
        }
        let qwen = "{%- if messages[0]['role'] == 'system' %}{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
            + "{%- else %}{{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}{%- endif %}"
        XCTAssertEqual(try ChatTemplate(detecting: qwen),
                       .chatml(defaultSystemPrompt: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."))
        let plain = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        XCTAssertEqual(try ChatTemplate(detecting: plain), .chatml(defaultSystemPrompt: nil))
        let llama = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
        XCTAssertEqual(try ChatTemplate(detecting: llama), .llama3)
        XCTAssertThrowsError(try ChatTemplate(detecting: "{% for m in messages %}<|user|>\n{{ m['content'] }}<|end|>{% endfor %}")) {
            guard case .unknownChatTemplate(let excerpt)? = $0 as? TokenizerError else { return XCTFail("\($0)") }
            XCTAssertTrue(excerpt.contains("<|user|>"))
            XCTAssertTrue("\($0)".contains("llama3"), "\($0)")
        }
        var v = BPEVocabulary(tokens: ["a"], merges: [], pre: "gpt2")
        XCTAssertThrowsError(try ChatTemplate(vocabulary: v)) { XCTAssertEqual($0 as? TokenizerError, .noChatTemplate) }
        v.chatTemplate = llama
        XCTAssertEqual(try ChatTemplate(vocabulary: v), .llama3)
        XCTAssertEqual(try ChatTemplate(vocabulary: v, name: "chatml"), .chatml(defaultSystemPrompt: nil))
    }

    func testLlama31Rendering() throws {
        let t = try ChatTemplate(detecting: "{{- bos_token }}{{- \"Cutting Knowledge Date: December 2023\\n\" }}<|start_header_id|><|eot_id|>")
        XCTAssertEqual(t, .llama31(todayDate: "26 Jul 2024"))
        XCTAssertEqual(try ChatTemplate(name: "llama3.2"), t)
        let head = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
        XCTAssertEqual(t.render(messages: [ChatMessage(role: "user", content: "Hi ")], addGenerationPrompt: true),
                       head + "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                       + "<|start_header_id|>assistant<|end_header_id|>\n\n")
        XCTAssertEqual(t.render(messages: [ChatMessage(role: "system", content: " Be brief."), ChatMessage(role: "user", content: "Hi")],
                                addGenerationPrompt: false),
                       head + "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
    }

    func testLlama3Rendering() {
        let msgs = [ChatMessage(role: "system", content: "Be brief. "), ChatMessage(role: "user", content: "\nHi")]
        XCTAssertEqual(ChatTemplate.llama3.render(messages: msgs, addGenerationPrompt: true),
                       "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
                       + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    }
}
