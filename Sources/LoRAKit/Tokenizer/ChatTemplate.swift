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
    /// Gemma (2, 3): `<bos>` then `<start_of_turn>user\ncontent<end_of_turn>\n` per message, the
    /// assistant's role written "model", content trimmed; a system message is folded into the first
    /// user turn as "system\n\nuser" (Gemma 3's template).
    case gemma
    /// Qwen3: ChatML without a default system prompt; the assistant turn after the last user message
    /// opens with a `<think>\n…\n</think>\n\n` block (empty when the content has none), earlier ones
    /// drop their reasoning; the generation prompt has thinking disabled (`<think>\n\n</think>\n\n`).
    case qwen3
    /// Mistral (Instruct v0.3 template): `<s>` then `[INST] user[/INST]` and ` assistant</s>` (trimmed);
    /// a system message is put before the last user message, when the conversation ends with one.
    case mistral
    /// DeepSeek-R1 distills: `<｜begin▁of▁sentence｜>` + the system text, then `<｜User｜>content` and
    /// `<｜Assistant｜>content<｜end▁of▁sentence｜>` (reasoning up to `</think>` dropped); the generation
    /// prompt is `<｜Assistant｜>`, followed by `<think>\n` when `thinkPrompt` (the later template revision).
    case deepseekR1(thinkPrompt: Bool)

    /// Qwen2.5's default system prompt.
    public static let qwen25SystemPrompt = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

    /// SmolLM2's default system prompt.
    public static let smolLM2SystemPrompt = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    /// Names accepted by ``init(name:)``.
    public static let builtinNames = ["chatml", "smollm2", "llama3", "llama3.1", "gemma", "qwen2.5", "qwen3", "mistral", "deepseek-r1"]

    /// The date Llama 3.1's template writes when none is given.
    public static let llama31DefaultDate = "26 Jul 2024"

    /// Picks a built-in template by name: "chatml" (no default system prompt), "smollm2" (ChatML
    /// with SmolLM2's default system prompt), "llama3", "llama3.1" (also "llama3.2"), "gemma" (also
    /// "gemma3"), "qwen2.5" (ChatML with Qwen2.5's default system prompt; also "qwen2"), "qwen3", "mistral", "deepseek-r1".
    public init(name: String) throws {
        switch name.lowercased() {
        case "chatml": self = .chatml(defaultSystemPrompt: nil)
        case "smollm2", "smollm": self = .chatml(defaultSystemPrompt: ChatTemplate.smolLM2SystemPrompt)
        case "llama3", "llama-3": self = .llama3
        case "llama3.1", "llama3.2", "llama-3.1", "llama-3.2": self = .llama31(todayDate: ChatTemplate.llama31DefaultDate)
        case "gemma", "gemma2", "gemma3": self = .gemma
        case "qwen2.5", "qwen2", "qwen": self = .chatml(defaultSystemPrompt: ChatTemplate.qwen25SystemPrompt)
        case "qwen3": self = .qwen3
        case "mistral": self = .mistral
        case "deepseek-r1", "deepseek": self = .deepseekR1(thinkPrompt: true)
        default: throw TokenizerError.unknownChatTemplateName(name)
        }
    }

    /// Recognizes a Jinja chat template; throws ``TokenizerError/unknownChatTemplate(excerpt:)``
    /// naming its start when it is none of the built-ins.
    public init(detecting template: String) throws {
        if template.contains("<|start_header_id|>") && template.contains("<|eot_id|>") {
            self = template.contains("Cutting Knowledge Date") ? .llama31(todayDate: ChatTemplate.llama31DefaultDate) : .llama3
        } else if template.contains("<|im_start|>") && template.contains("<|im_end|>") {
            self = template.contains("<think>") && template.contains("last_query_index") ? .qwen3
                : .chatml(defaultSystemPrompt: ChatTemplate.defaultSystemPrompt(in: template))
        } else if template.contains("<start_of_turn>") && template.contains("<end_of_turn>") {
            self = .gemma
        } else if template.contains("<｜User｜>") && template.contains("<｜Assistant｜>") {
            self = .deepseekR1(thinkPrompt: template.contains("<｜Assistant｜><think>"))
        } else if template.contains("[INST]") && template.contains("[/INST]") {
            self = .mistral
        } else {
            let flat = template.replacingOccurrences(of: "\n", with: "\\n")
            throw TokenizerError.unknownChatTemplate(excerpt: flat.count > 100 ? String(flat.prefix(100)) + "…" : flat)
        }
    }

    /// The template of a vocabulary: `name` when given, else detected from its chat template, else
    /// from its architecture (a Gemma file without a template gets ``gemma``).
    public init(vocabulary: BPEVocabulary, name: String? = nil) throws {
        if let name { try self.init(name: name); return }
        guard let t = vocabulary.chatTemplate else {
            if let arch = vocabulary.architecture, arch.hasPrefix("gemma") { self = .gemma; return }
            throw TokenizerError.noChatTemplate
        }
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

    /// The name of the format ("chatml", "llama3", "llama3.1", "gemma", "qwen3" or "mistral").
    public var name: String {
        switch self {
        case .chatml: return "chatml"
        case .llama3: return "llama3"
        case .llama31: return "llama3.1"
        case .gemma: return "gemma"
        case .qwen3: return "qwen3"
        case .mistral: return "mistral"
        case .deepseekR1: return "deepseek-r1"
        }
    }
}
