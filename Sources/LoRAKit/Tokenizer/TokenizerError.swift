/// Errors from loading a tokenizer or rendering a chat template. Each names the file or field at fault.
public enum TokenizerError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The pre-tokenizer (GGUF `tokenizer.ggml.pre` or a tokenizer.json `pre_tokenizer`) is not one LoRAKit implements.
    case unknownPreTokenizer(String)
    /// The tokenizer model is neither byte-level BPE (GGUF `tokenizer.ggml.model` "gpt2", tokenizer.json
    /// `model.type` "BPE") nor SentencePiece BPE (GGUF "llama").
    case unsupportedModel(String)
    /// A required field is absent.
    case missingField(String)
    /// A field has the wrong type or an impossible value.
    case invalidField(field: String, problem: String)
    /// Merge number `index` does not name two tokens whose concatenation is a token.
    case invalidMerge(index: Int, merge: String)
    /// A file could not be read or parsed.
    case unreadableFile(path: String, problem: String)
    /// The chat template text matches none of the built-in templates.
    case unknownChatTemplate(excerpt: String)
    /// `ChatTemplate(name:)` was given a name that is not a built-in.
    case unknownChatTemplateName(String)
    /// The model carries no chat template and none was chosen.
    case noChatTemplate

    public var description: String {
        switch self {
        case .unknownPreTokenizer(let name):
            return "unknown pre-tokenizer '\(name)' (supported: \(PreTokenizer.allCases.map(\.rawValue).joined(separator: ", ")))"
        case .unsupportedModel(let m):
            return "unsupported tokenizer model '\(m)': supported are byte-level BPE (GGUF 'gpt2', tokenizer.json 'BPE') "
                + "and SentencePiece BPE (GGUF 'llama')"
        case .missingField(let f): return "tokenizer field '\(f)' is missing"
        case .invalidField(let f, let p): return "tokenizer field '\(f)': \(p)"
        case .invalidMerge(let i, let m): return "merge #\(i) '\(m)' does not combine two tokens into a token of the vocabulary"
        case .unreadableFile(let path, let p): return "\(path): \(p)"
        case .unknownChatTemplate(let excerpt):
            return "unrecognized chat template \"\(excerpt)\"; choose a built-in one explicitly (\(ChatTemplate.builtinNames.joined(separator: ", ")))"
        case .unknownChatTemplateName(let n):
            return "unknown chat template name '\(n)' (built-ins: \(ChatTemplate.builtinNames.joined(separator: ", ")))"
        case .noChatTemplate:
            return "the model has no chat template; choose a built-in one explicitly (\(ChatTemplate.builtinNames.joined(separator: ", ")))"
        }
    }
}
