import Foundation

/// What to generate and when to stop.
public struct GenerationOptions: Sendable, Equatable {
    public var maxTokens: Int
    public var sampling: SamplingOptions
    /// Token ids that end the answer (not printed). Empty = the tokenizer's EOS and end-of-turn tokens.
    public var stopTokens: [Int32]

    public init(maxTokens: Int = 256, sampling: SamplingOptions = .greedy, stopTokens: [Int32] = []) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopTokens = stopTokens
    }
}

/// Why generation ended.
public enum StopReason: String, Sendable, Codable {
    case stopToken = "stop_token", maxTokens = "max_tokens", contextFull = "context_full", cancelled
}

/// The answer to one request.
public struct GenerationResult: Sendable {
    /// Generated ids (without the stop token).
    public var tokens: [Int32]
    public var text: String
    public var stopReason: StopReason
    public var promptTokens: Int
    /// Seconds of the batched prompt pass and of the token-by-token steps.
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    /// Generated tokens per second of the decode steps.
    public var tokensPerSecond: Double { decodeSeconds > 0 ? Double(max(tokens.count - 1, 0)) / decodeSeconds : 0 }
}

/// Text generation over one loaded base with switchable adapters: one ``LlamaDecoder`` (one KV
/// cache) reused for every request.
public final class Generator: @unchecked Sendable {
    public let decoder: LlamaDecoder
    public let tokenizer: Tokenizer
    /// EOS and end-of-turn ids found in the vocabulary (`<|im_end|>`, `<|eot_id|>`, `<|endoftext|>`, Gemma's `<end_of_turn>`, …).
    public let defaultStopTokens: [Int32]

    public init(model: ModelWeights, tokenizer: Tokenizer, maxContext: Int = 2048, pool: ThreadPool) throws {
        decoder = try LlamaDecoder(weights: model, maxContext: maxContext, pool: pool)
        self.tokenizer = tokenizer
        var stops: [Int32] = []
        if let e = tokenizer.vocabulary.eosID { stops.append(Int32(e)) }
        for s in ["<|im_end|>", "<|eot_id|>", "<|end_of_text|>", "<|endoftext|>", "<|eom_id|>", "<end_of_turn>"] {
            if let id = tokenizer.specialTokenID(s), !stops.contains(id) { stops.append(id) }
        }
        defaultStopTokens = stops
    }

    /// Switches the adapter (nil = the base model) for the following requests.
    public func setAdapter(_ a: LoRAAdapter?) throws { try decoder.setAdapter(a) }

    /// Continues `prompt` (token ids). `onText` gets decoded pieces as they complete (always whole
    /// UTF-8 characters); returning false stops generation.
    public func generate(prompt: [Int32], options: GenerationOptions,
                         onText: ((String) -> Bool)? = nil) throws -> GenerationResult {
        var sampler = try Sampler(options.sampling)
        let stops = Set(options.stopTokens.isEmpty ? defaultStopTokens : options.stopTokens)
        decoder.reset()
        let t0 = Date()
        var logits = try decoder.append(prompt)
        let t1 = Date()
        var out: [Int32] = []
        var stream = UTF8Stream()
        var text = ""
        var reason = StopReason.maxTokens
        while out.count < options.maxTokens {
            let next = sampler.sample(logits)
            if stops.contains(next) { reason = .stopToken; break }
            out.append(next)
            let piece = stream.push(tokenizer.decodeBytes([next]))
            if !piece.isEmpty {
                text += piece
                if let onText, !onText(piece) { reason = .cancelled; break }
            }
            if out.count >= options.maxTokens { break }
            if decoder.position >= decoder.maxContext { reason = .contextFull; break }
            logits = try decoder.append([next])
        }
        let rest = stream.flush()
        if !rest.isEmpty { text += rest; _ = onText?(rest) }
        return GenerationResult(tokens: out, text: text, stopReason: reason, promptTokens: prompt.count,
                                prefillSeconds: t1.timeIntervalSince(t0), decodeSeconds: Date().timeIntervalSince(t1))
    }

    /// Renders a chat with the model's template (generation prompt added) and tokenizes it.
    public func chatPrompt(_ messages: [ChatMessage], template: ChatTemplate? = nil) throws -> [Int32] {
        let t = try template ?? ChatTemplate(vocabulary: tokenizer.vocabulary)
        return tokenizer.encode(t.render(messages: messages, addGenerationPrompt: true), addBOS: false, parseSpecial: true)
    }
}

/// Turns a byte stream into text pieces that end on UTF-8 character boundaries.
struct UTF8Stream {
    var pending: [UInt8] = []

    /// Appends bytes; returns the text of every complete character so far.
    mutating func push(_ bytes: [UInt8]) -> String {
        pending += bytes
        let end = UTF8Stream.completePrefix(pending)
        guard end > 0 else { return "" }
        let s = String(decoding: pending[0..<end], as: UTF8.self)
        pending.removeFirst(end)
        return s
    }

    /// Whatever is left (an incomplete sequence becomes U+FFFD).
    mutating func flush() -> String {
        defer { pending = [] }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside a (possibly valid) multi-byte sequence.
    static func completePrefix(_ b: [UInt8]) -> Int {
        let n = b.count
        var i = n - 1, back = 0
        while i >= 0 && back < 4 && (b[i] & 0xC0) == 0x80 { i -= 1; back += 1 }
        guard i >= 0 else { return n }
        let lead = b[i]
        let need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1
        if lead >= 0xC0 && lead < 0xF8 && n - i < need { return i }
        return n
    }
}
