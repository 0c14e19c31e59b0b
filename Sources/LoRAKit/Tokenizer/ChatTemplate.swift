import Foundation

/// One chat turn: a role ("system", "user", "assistant", …) and its text.
public struct ChatMessage: Codable, Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// Built-in chat formats, recognized from a model's Jinja `tokenizer.chat_template`.
///
/// LoRAKit does not run Jinja: it recognizes the template families below and renders them
/// natively, matching `transformers`' `apply_chat_template` for them.
public enum ChatTemplate: Sendable, Equatable {
    /// `<|im_start|>role\ncontent<|im_end|>\n` per message (SmolLM2, Qwen). When the first message
    /// is not a system message and `defaultSystemPrompt` is set, a system turn with it comes first
    /// (SmolLM2's template does this with "You are a helpful AI assistant named SmolLM, trained by Hugging Face").
    case chatml(defaultSystemPrompt: String?)
    /// `<|begin_of_text|>` then `<|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>` per
    /// message, content trimmed (Llama 3).
    case llama3
    /// Llama 3.1 / 3.2: like ``llama3`` but always opening with a system turn that reads
    /// "Cutting Knowledge Date: December 2023\nToday Date: <todayDate>\n\n" followed by the
    /// (trimmed) system message, if any. The date is fixed for reproducible training data; the
    /// templates' default is "26 Jul 2024" (Llama 3.2's template uses the current date when
    /// `strftime_now` is available). Tool calling is not rendered.
    case llama31(todayDate: String)

    /// SmolLM2's default system prompt.
    public static let smolLM2SystemPrompt = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    /// Names accepted by ``init(name:)``.
    public static let builtinNames = ["chatml", "smollm2", "llama3", "llama3.1"]

    /// The date Llama 3.1's template writes when none is given.
    public static let llama31DefaultDate = "26 Jul 2024"

    /// Picks a built-in template by name: "chatml" (no default system prompt), "smollm2" (ChatML
    /// with SmolLM2's default system prompt), "llama3" or "llama3.1" (also "llama3.2").
    public init(name: String) throws {
        switch name.lowercased() {
        case "chatml": self = .chatml(defaultSystemPrompt: nil)
        case "smollm2", "smollm": self = .chatml(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt)
        case "llama3", "llama-3": self = .llama3
        case "llama3.1", "llama3.2", "llama-3.1", "llama-3.2": self = .llama31(todayDate: ChatTemplate.llama31DefaultDate)
        default: throw TokenizerError.unknownChatTemplateName(name)
        }
    }

    /// Recognizes a Jinja chat template; throws ``TokenizerError/unknownChatTemplate(excerpt:)``
    /// naming its start when it is none of the built-ins.
    public init(detecting template: String) throws {
        if template.contains("<|start_header_id|>") && template.contains("<|eot_id|>") {
            self = template.contains("Cutting Knowledge Date") ? .llama31(todayDate: ChatTemplate.llama31DefaultDate) : .llama3
        } else if template.contains("<|im_start|>") && template.contains("<|im_end|>") {
            self = .chatml(defaultSystemPrompt: ChatTemplate.defaultSystemPrompt(in: template))
        } else {
            let flat = template.replacingOccurrences(of: "\n", with: "\\n")
            throw TokenizerError.unknownChatTemplate(excerpt: flat.count > 100 ? String(flat.prefix(100)) + "…" : flat)
        }
    }

    /// The template of a vocabulary: `name` when given, else detected from its chat template.
    public init(vocabulary: BPEVocabulary, name: String? = nil) throws {
        if let name { try self.init(name: name); return }
        guard let t = vocabulary.chatTemplate else { throw TokenizerError.noChatTemplate }
        try self.init(detecting: t)
    }

    /// A literal system turn written in a ChatML template (`'<|im_start|>system\nText<|im_end|>\n'`).
    static func defaultSystemPrompt(in template: String) -> String? {
        var from = template.startIndex
        while let r = template.range(of: "<|im_start|>system", range: from..<template.endIndex) {
            from = r.upperBound
            var rest = template[r.upperBound...]
            if rest.hasPrefix("\\n") { rest = rest.dropFirst(2) } else if rest.hasPrefix("\n") { rest = rest.dropFirst() } else { continue }
            guard let end = rest.range(of: "<|im_end|>") else { continue }
            let text = rest[..<end.lowerBound]
            if text.isEmpty || text.contains("'") || text.contains("\"") || text.contains("{") { continue }
            return text.replacingOccurrences(of: "\\n", with: "\n")
        }
        return nil
    }

    /// The name of the format ("chatml", "llama3" or "llama3.1").
    public var name: String {
        switch self {
        case .chatml: return "chatml"
        case .llama3: return "llama3"
        case .llama31: return "llama3.1"
        }
    }

    /// Renders messages as the model expects them; with `addGenerationPrompt` the header of an
    /// assistant turn follows, ready for generation.
    public func render(messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        renderWithSpans(messages: messages, addGenerationPrompt: addGenerationPrompt).text
    }

    /// Renders messages once and records where each assistant turn's learned part lies: its content
    /// and end-of-turn marker (what the model must produce after the generation prompt).
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
                    b.add(first.content.trimmingCharacters(in: .whitespacesAndNewlines))
                    rest = rest.dropFirst()
                }
                b.add("<|eot_id|>")
            }
            for m in rest {
                b.add("<|start_header_id|>" + m.role + "<|end_header_id|>\n\n")
                b.add(m.content.trimmingCharacters(in: .whitespacesAndNewlines) + "<|eot_id|>", learn: m.role == "assistant")
            }
            if addGenerationPrompt { b.add("<|start_header_id|>assistant<|end_header_id|>\n\n") }
        }
        return b
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
