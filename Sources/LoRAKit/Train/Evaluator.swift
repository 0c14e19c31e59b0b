import Foundation

/// Result of scoring text with a model: mean next-token loss and perplexity.
public struct EvalResult: Codable, Sendable, Equatable {
    public var meanLoss: Double
    public var perplexity: Double
    public var tokensScored: Int
    public var windows: Int
    public var context: Int
    /// Whether every window started with the BOS token (followed by `context` − 1 text tokens).
    public var bosAdded: Bool = false

    enum CodingKeys: String, CodingKey {
        case meanLoss = "mean_loss", perplexity, tokensScored = "tokens_scored", windows, context, bosAdded = "bos_added"
    }
}

/// Errors of an evaluation request.
public enum EvalError: Error, CustomStringConvertible, Equatable {
    case contextTooSmall(Int)
    case contextTooLarge(Int, max: Int)
    case notEnoughTokens(have: Int, need: Int)
    case invalidWindows(Int)
    case tokenOutOfRange(index: Int, id: Int32, vocab: Int)

    public var description: String {
        switch self {
        case .contextTooSmall(let n): return "the window length must be at least 2 tokens (got \(n))"
        case .contextTooLarge(let n, let m): return "the window length \(n) exceeds the model's context length \(m)"
        case .notEnoughTokens(let h, let n): return "the text has \(h) tokens, fewer than one window of \(n)"
        case .invalidWindows(let w): return "the number of windows must be at least 1 (got \(w))"
        case .tokenOutOfRange(let i, let id, let v): return "token \(i) has id \(id), outside the vocabulary of \(v)"
        }
    }
}

/// Scores text in non-overlapping windows: each window of N tokens scores its N−1 next-token predictions.
public enum Evaluator {
    /// Mean loss over up to `windows` windows of `context` tokens taken from the start of `tokens`
    /// (fewer when the text is shorter). With `bos` each window is that token followed by the next `context` − 1
    /// tokens (as llama.cpp's perplexity does for models whose file says add_bos_token); without it no BOS is
    /// added. `precision`: arithmetic of the frozen-weight products.
    public static func evaluate(model: ModelWeights, adapter: LoRAParameters? = nil, tokens: [Int32], context: Int,
                                windows: Int, pool: ThreadPool, batch: Int = 4, bos: Int32? = nil,
                                precision: ComputePrecision = .fp32) throws -> EvalResult {
        guard context >= 2 else { throw EvalError.contextTooSmall(context) }
        guard windows >= 1 else { throw EvalError.invalidWindows(windows) }
        if model.config.contextLength > 0 && context > model.config.contextLength {
            throw EvalError.contextTooLarge(context, max: model.config.contextLength)
        }
        let step = bos == nil ? context : context - 1 // text tokens per window
        let available = tokens.count / step
        guard available >= 1 else { throw EvalError.notEnoughTokens(have: tokens.count, need: step) }
        if let bad = tokens.firstIndex(where: { $0 < 0 || Int($0) >= model.config.vocabSize }) {
            throw EvalError.tokenOutOfRange(index: bad, id: tokens[bad], vocab: model.config.vocabSize)
        }
        let W = min(windows, available)
        let B = max(1, min(batch, W))
        let graph = LlamaGraph(weights: model, lora: adapter, batch: B, sequence: context, training: false,
                               checkpointing: false, pool: pool)
        graph.precision = precision
        var sum = 0.0, count = 0, w = 0
        while w < W {
            let nb = min(B, W - w)
            var ids = [Int32](repeating: 0, count: B * context)
            var tg = [Int32](repeating: -1, count: B * context)
            for b in 0..<nb {
                let window = (bos.map { [$0] } ?? []) + tokens[((w + b) * step)..<((w + b + 1) * step)]
                for s in 0..<context {
                    ids[b * context + s] = window[s]
                    if s + 1 < context { tg[b * context + s] = window[s + 1] }
                }
            }
            graph.setBatch(tokens: ids, targets: tg)
            let r = graph.run(backward: false, gradScale: 0)
            sum += r.sum
            count += r.count
            w += nb
        }
        let mean = sum / Double(max(count, 1))
        return EvalResult(meanLoss: mean, perplexity: exp(mean), tokensScored: count, windows: W, context: context,
                          bosAdded: bos != nil)
    }

    /// As `evaluate(model:…pool:…)` with the workers and weight placement of a NUMA mode on this
    /// machine (what a training run uses): `threads` nil = one per allowed CPU.
    public static func evaluate(model: ModelWeights, adapter: LoRAParameters? = nil, tokens: [Int32], context: Int,
                                windows: Int, threads: Int?, numa: NUMAMode = .auto, bos: Int32? = nil,
                                precision: ComputePrecision = .fp32) throws -> (result: EvalResult, plan: NUMAPlan) {
        let topology = NUMATopology.current()
        let plan = try NUMAPlan.forRun(topology: topology, threads: threads, mode: numa)
        let pool = ThreadPool(plan: plan, topology: topology)
        let r = try evaluate(model: try model.placed(by: plan), adapter: adapter, tokens: tokens, context: context, windows: windows,
                             pool: pool, bos: bos, precision: precision)
        return (r, plan)
    }
}
