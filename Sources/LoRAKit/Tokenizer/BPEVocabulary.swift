/// Kinds of vocabulary entries, with GGUF's `tokenizer.ggml.token_type` numbering.
public enum TokenType: Int32, Sendable {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
}

/// Everything needed to build a tokenizer, as stored in a GGUF file or a Hugging Face `tokenizer.json`:
/// byte-level BPE (GGUF `tokenizer.ggml.model` "gpt2") or SentencePiece BPE ("llama": scores instead
/// of merges, see ``SentencePieceEncoder``).
///
/// For byte-level BPE, `tokens` and `merges` are written in GPT-2's byte alphabet (see ``ByteLevel``),
/// except control and user-defined tokens, which are plain text (`<|im_start|>`). SentencePiece tokens
/// write a space as "▁" (U+2581) and bytes as `<0xNN>`.
public struct BPEVocabulary: Sendable, Equatable {
    /// Token strings by id.
    public var tokens: [String]
    /// Merge rules, highest priority first, each "left right".
    public var merges: [String]
    /// ``TokenType`` raw values by id (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte).
    public var tokenTypes: [Int32]
    /// Beginning-of-sequence token id.
    public var bosID: Int?
    /// End-of-sequence token id.
    public var eosID: Int?
    /// Padding token id.
    public var padID: Int?
    /// Unknown-token id.
    public var unkID: Int?
    /// Pre-tokenizer name, as in GGUF `tokenizer.ggml.pre` ("smollm", "llama-bpe", "qwen2", "gpt2").
    public var pre: String
    /// The Jinja chat template the model carries (`tokenizer.chat_template`), if any.
    public var chatTemplate: String?
    /// Whether `encode` prepends the BOS token by default.
    public var addBOS: Bool
    /// When true a whole pre-token found in the vocabulary is emitted as is, without merging
    /// (Hugging Face BPE `ignore_merges`).
    public var ignoreMerges: Bool
    /// When true text is put in Unicode NFC before pre-tokenization (a tokenizer.json `NFC`
    /// normalizer, as Qwen2 has); special tokens are matched before normalizing.
    public var normalizeNFC: Bool = false
    /// The tokenizer model: "gpt2" (byte-level BPE, the default) or "llama" (SentencePiece BPE).
    public var model: String = "gpt2"
    /// SentencePiece merge priorities by id (higher merges first); empty for byte-level BPE.
    public var scores: [Float] = []
    /// SentencePiece: put "▁" before text that starts the input or follows a special token
    /// (GGUF `tokenizer.ggml.add_space_prefix`, true when absent).
    public var addSpacePrefix: Bool = false
    /// The model's architecture (GGUF `general.architecture`, e.g. "gemma3"), used to pick a chat
    /// template when the file carries none.
    public var architecture: String?

    /// Match ordinary tokens whose text is one of ``llamaCppEndOfGenerationTexts`` like control tokens, as
    /// llama.cpp does (set for GGUF vocabularies, so that their ids equal llama.cpp's).
    public var endOfGenerationTextsAreControl: Bool = false

    /// True for a SentencePiece vocabulary (`model` "llama").
    public var isSentencePiece: Bool { model == "llama" }

    /// Creates a vocabulary from its parts; ``Tokenizer/init(_:)`` checks consistency.
    public init(tokens: [String], merges: [String], tokenTypes: [Int32]? = nil,
                bosID: Int? = nil, eosID: Int? = nil, padID: Int? = nil, unkID: Int? = nil,
                pre: String, chatTemplate: String? = nil, addBOS: Bool = false, ignoreMerges: Bool = false) {
        self.tokens = tokens
        self.merges = merges
        self.tokenTypes = tokenTypes ?? [Int32](repeating: TokenType.normal.rawValue, count: tokens.count)
        self.bosID = bosID
        self.eosID = eosID
        self.padID = padID
        self.unkID = unkID
        self.pre = pre
        self.chatTemplate = chatTemplate
        self.addBOS = addBOS
        self.ignoreMerges = ignoreMerges
    }

    /// Number of token ids.
    public var count: Int { tokens.count }

    /// The id of a token string, if present (linear search; meant for occasional lookups).
    public func id(of token: String) -> Int? { tokens.firstIndex(of: token) }

    /// Checks sizes and special ids.
    func validate() throws {
        guard !tokens.isEmpty else { throw TokenizerError.missingField("tokens") }
        guard tokenTypes.count == tokens.count else {
            throw TokenizerError.invalidField(field: "token_type",
                                              problem: "has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        for (name, id) in [("bos_token_id", bosID), ("eos_token_id", eosID), ("padding_token_id", padID),
                           ("unknown_token_id", unkID)] {
            if let id, id < 0 || id >= tokens.count {
                throw TokenizerError.invalidField(field: name, problem: "id \(id) is outside 0..<\(tokens.count)")
            }
        }
        if isSentencePiece && !scores.isEmpty && scores.count != tokens.count {
            throw TokenizerError.invalidField(field: "scores", problem: "has \(scores.count) entries for \(tokens.count) tokens")
        }
        if addBOS && bosID == nil {
            throw TokenizerError.invalidField(field: "add_bos_token", problem: "is true but there is no BOS token")
        }
    }
}
