import Foundation

extension ChatTemplate {
    /// Renders messages as the model expects them; with `addGenerationPrompt` the header of an
    /// assistant turn follows, ready for generation.
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        renderWithSpans(messages: messages, addGenerationPrompt: addGenerationPrompt).text
    }

    /// Renders messages once and records where each assistant turn's learned part lies: what the
    /// model must produce after the generation prompt (its content and end-of-turn marker).
    public func renderWithSpans(messages: [ChatMessage], addGenerationPrompt: Bool) -> RenderedChat {
        var b = RenderedChat()
        switch self {
        case .chatml(let sys):
            if let sys, let first = messages.first, first.role != "system" {
                b.add("<|im_start|>system\n" + sys + "<|im_end|>\n")
            }
            for m in messages {
                b.add("<|im_start|>" + m.role + "\n")
                b.add(m.content + "<|im_end|>\n", learn: m.role == "assistant")
            }
            if addGenerationPrompt { b.add("<|im_start|>assistant\n") }
        case .llama3, .llama31:
            b.add("<|begin_of_text|>")
            var rest = messages[...]
            if case .llama31(let date) = self {
                b.add("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: "
                      + date + "\n\n")
                if let first = rest.first, first.role == "system" {
                    b.add(Self.trim(first.content))
                    rest = rest.dropFirst()
                }
                b.add("<|eot_id|>")
            }
            for m in rest {
                b.add("<|start_header_id|>" + m.role + "<|end_header_id|>\n\n")
                b.add(Self.trim(m.content) + "<|eot_id|>", learn: m.role == "assistant")
            }
            if addGenerationPrompt { b.add("<|start_header_id|>assistant<|end_header_id|>\n\n") }
        case .gemma:
            b.add("<bos>")
            var rest = messages[...], prefix = ""
            if let first = rest.first, first.role == "system" {
                prefix = first.content + "\n\n"
                rest = rest.dropFirst()
            }
            for (k, m) in rest.enumerated() {
                let assistant = m.role == "assistant"
                b.add("<start_of_turn>" + (assistant ? "model" : m.role) + "\n" + (k == 0 ? prefix : ""))
                b.add(Self.trim(m.content) + "<end_of_turn>\n", learn: assistant)
            }
            if addGenerationPrompt { b.add("<start_of_turn>model\n") }
        case .qwen3:
            renderQwen3(messages, addGenerationPrompt, &b)
        case .deepseekR1(let think):
            b.add("<｜begin▁of▁sentence｜>" + (messages.last { $0.role == "system" }?.content ?? ""))
            for m in messages {
                if m.role == "user" { b.add("<｜User｜>" + m.content) }
                guard m.role == "assistant" else { continue }
                let content = m.content.range(of: "</think>", options: .backwards).map { String(m.content[$0.upperBound...]) }
                b.add("<｜Assistant｜>")
                b.add((content ?? m.content) + "<｜end▁of▁sentence｜>", learn: true)
            }
            if addGenerationPrompt { b.add(think ? "<｜Assistant｜><think>\n" : "<｜Assistant｜>") }
        case .mistral:
            var rest = messages[...]
            var system: String?
            if let first = rest.first, first.role == "system" { system = first.content; rest = rest.dropFirst() }
            b.add("<s>")
            for (k, m) in rest.enumerated() {
                if m.role == "assistant" {
                    b.add(" " + Self.trim(m.content) + "</s>", learn: true)
                } else if k == rest.count - 1, let system {
                    b.add("[INST] " + system + "\n\n" + m.content + "[/INST]")
                } else {
                    b.add("[INST] " + m.content + "[/INST]")
                }
            }
        }
        return b
    }

    /// Why the model's own template would refuse these messages (Gemma's and Mistral's raise an exception
    /// unless user and assistant turns alternate after an optional leading system message), or nil.
    public func problem(with messages: [ChatMessage]) -> String? {
        switch self {
        case .gemma, .mistral:
            let rest = messages.first?.role == "system" ? messages.dropFirst() : messages[...]
            for (k, m) in rest.enumerated() where (m.role == "user") != (k % 2 == 0) || m.role == "system" {
                return "the \(name) template needs user and assistant turns to alternate after an optional first "
                    + "system message, but message \(messages.count - rest.count + k) is '\(m.role)'"
            }
            return nil
        default:
            return nil
        }
    }

    /// Qwen3's template: reasoning (`<think>…</think>` in the content) is kept only on the assistant
    /// turns after the last user message, and the last turn always gets a think block.
    private func renderQwen3(_ messages: [ChatMessage], _ addGenerationPrompt: Bool, _ b: inout RenderedChat) {
        if let first = messages.first, first.role == "system" {
            b.add("<|im_start|>system\n" + first.content + "<|im_end|>\n")
        }
        let lastQuery = messages.lastIndex { m in
            m.role == "user" && !(m.content.hasPrefix("<tool_response>") && m.content.hasSuffix("</tool_response>"))
        } ?? messages.count - 1
        for (i, m) in messages.enumerated() {
            if m.role == "system" && i == 0 { continue }
            guard m.role == "assistant" else {
                b.add("<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n")
                continue
            }
            var content = m.content, reasoning = ""
            if let end = content.range(of: "</think>") {
                let before = content[..<end.lowerBound]
                let inner = before.range(of: "<think>", options: .backwards).map { before[$0.upperBound...] } ?? before
                reasoning = Self.strip(String(inner), "\n", leading: true, trailing: false)
                reasoning = Self.strip(reasoning, "\n", leading: false, trailing: true)
                let after = content.range(of: "</think>", options: .backwards)!.upperBound
                content = Self.strip(String(content[after...]), "\n", leading: true, trailing: false)
            }
            b.add("<|im_start|>assistant\n")
            if i > lastQuery && (i == messages.count - 1 || !reasoning.isEmpty) {
                let think = "<think>\n" + Self.strip(reasoning, "\n", leading: true, trailing: true) + "\n</think>\n\n"
                // An empty think block is what the generation prompt (thinking disabled) ends with: not learned.
                b.add(think, learn: !reasoning.isEmpty)
                b.add(Self.strip(content, "\n", leading: true, trailing: false) + "<|im_end|>\n", learn: true)
            } else {
                b.add(content + "<|im_end|>\n", learn: true)
            }
        }
        if addGenerationPrompt { b.add("<|im_start|>assistant\n<think>\n\n</think>\n\n") }
    }

    /// Jinja's `trim` (Python `str.strip()`).
    static func trim(_ s: String) -> String { s.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Python's `lstrip(c)` / `rstrip(c)` for one character.
    static func strip(_ s: String, _ c: Character, leading: Bool, trailing: Bool) -> String {
        var sub = s[...]
        if leading { while sub.first == c { sub = sub.dropFirst() } }
        if trailing { while sub.last == c { sub = sub.dropLast() } }
        return String(sub)
    }
}

/// A rendered conversation and the UTF-8 byte ranges of its assistant turns' learned parts.
public struct RenderedChat: Sendable, Equatable {
    /// The text to tokenize (special tokens written as text).
    public var text = ""
    /// Byte ranges in `text.utf8`, in order: each assistant turn's content and end-of-turn marker.
    public var assistantSpans = [Range<Int>]()

    mutating func add(_ s: String, learn: Bool = false) {
        let a = text.utf8.count
        text += s
        if learn && !s.isEmpty {
            let b = text.utf8.count
            if let last = assistantSpans.last, last.upperBound == a {
                assistantSpans[assistantSpans.count - 1] = last.lowerBound..<b
            } else {
                assistantSpans.append(a..<b)
            }
        }
    }
}
