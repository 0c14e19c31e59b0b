import Foundation

/// How the next token is picked from the logits.
public struct SamplingOptions: Codable, Sendable, Equatable {
    /// 0 = greedy (argmax, lowest id on ties); otherwise logits are divided by it before softmax.
    public var temperature: Float
    /// Nucleus sampling: keep the most likely tokens whose probabilities sum to at least this (1 = off).
    public var topP: Float
    /// Keep only the k most likely tokens (0 = off).
    public var topK: Int
    /// Seed of the SplitMix64 generator.
    public var seed: UInt64

    public init(temperature: Float = 0, topP: Float = 1, topK: Int = 0, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topP = topP
        self.topK = topK
        self.seed = seed
    }

    /// Greedy decoding.
    public static let greedy = SamplingOptions()
}

/// Errors of sampling options.
public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case invalid(field: String, message: String)
    public var description: String {
        switch self {
        case .invalid(let f, let m): return "\(f) \(m)"
        }
    }
}

/// Picks tokens from logits: greedy, or temperature with top-k and top-p, from a seeded generator
/// (the same seed and logits give the same tokens on every platform).
public struct Sampler: Sendable {
    public let options: SamplingOptions
    var rng: SplitMix64

    public init(_ options: SamplingOptions) throws {
        guard options.temperature >= 0, options.temperature.isFinite else {
            throw SamplingError.invalid(field: "temperature", message: "must be a finite number >= 0 (got \(options.temperature))")
        }
        guard options.topP > 0, options.topP <= 1 else {
            throw SamplingError.invalid(field: "top-p", message: "must be in (0, 1] (got \(options.topP))")
        }
        guard options.topK >= 0 else { throw SamplingError.invalid(field: "top-k", message: "must be >= 0 (got \(options.topK))") }
        self.options = options
        rng = SplitMix64(seed: options.seed)
    }

    /// The index of the largest logit (lowest index on ties; NaN never wins).
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        var bv = -Float.infinity
        for (i, v) in logits.enumerated() where v > bv { bv = v; best = i }
        return best
    }

    /// Picks the next token id.
    public mutating func sample(_ logits: [Float]) -> Int32 {
        if options.temperature == 0 { return Int32(Sampler.argmax(logits)) }
        // Candidates sorted by logit (descending, id ascending on ties). Tokens whose probability is below
        // e^-40 of the most likely one's (mass < 1e-13 in all for any vocabulary) are left out before sorting.
        let top = logits.max() ?? 0
        let cut = top - 40 * options.temperature
        var idx = Array(logits.indices).filter { logits[$0] >= cut }
        guard !idx.isEmpty else { return 0 }
        idx.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        if options.topK > 0 && idx.count > options.topK { idx.removeLast(idx.count - options.topK) }
        let m = Double(logits[idx[0]]), T = Double(options.temperature)
        var p = idx.map { exp((Double(logits[$0]) - m) / T) }
        let total = p.reduce(0, +)
        for i in p.indices { p[i] /= total }
        var keep = p.count
        if options.topP < 1 {
            var cum = 0.0
            for i in p.indices {
                cum += p[i]
                if cum >= Double(options.topP) { keep = i + 1; break }
            }
        }
        let mass = p[0..<keep].reduce(0, +)
        let r = Double(rng.next() >> 11) / Double(1 << 53) * mass
        var cum = 0.0
        for i in 0..<keep {
            cum += p[i]
            if r < cum { return Int32(idx[i]) }
        }
        return Int32(idx[keep - 1])
    }
}
