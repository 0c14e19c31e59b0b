import CKernels
import Foundation

/// Errors of incremental decoding.
public enum DecoderError: Error, CustomStringConvertible, Equatable {
    case contextFull(needed: Int, max: Int)
    case tokenOutOfRange(index: Int, id: Int32, vocab: Int)
    case emptyInput
    case adapterMismatch(name: String, message: String)
    case invalidMaxContext(Int)

    public var description: String {
        switch self {
        case .contextFull(let n, let m): return "the sequence needs \(n) positions, more than the decoder's context of \(m)"
        case .tokenOutOfRange(let i, let id, let v): return "token \(i) has id \(id), outside the vocabulary of \(v)"
        case .emptyInput: return "no tokens to decode"
        case .adapterMismatch(let n, let m): return "adapter '\(n)' does not fit the model: \(m)"
        case .invalidMaxContext(let n): return "max context must be at least 1 (got \(n))"
        }
    }
}

/// A Llama decoder for one sequence with a KV cache: the prompt is run in batched passes of up to
/// `maxChunk` tokens, then one token per step. It runs the same layer definition as ``LlamaGraph``
/// (`LayerRunner.layerForward`: quantized matmuls, RMSNorm, interleaved RoPE at absolute positions, SwiGLU,
/// LoRA as y += s·(x·Aᵀ)·Bᵀ), with K and V appended to the cache and attention over it (`lk_decode_attention`).
/// All buffers (cache [layers, ctx, kv] for k and v, activations for `maxChunk` rows) are allocated
/// at init. The adapter can be switched between sequences; the base is shared, never copied.
public final class LlamaDecoder: LayerRunner, @unchecked Sendable {
    public let weights: ModelWeights
    public let config: LlamaConfig
    /// Positions the cache holds.
    public let maxContext: Int
    /// Rows of one batched pass.
    public let maxChunk: Int
    let pool: ThreadPool
    /// The adapter applied (nil = base only). Changing it resets the cache.
    public private(set) var adapter: LoRAAdapter?
    /// Tokens in the cache.
    public internal(set) var position = 0

    let buffers: DecoderBuffers<FloatBuffer, Int32Buffer>
    let qScratch: UnsafeMutableRawPointer
    let maxRank: Int
    /// Rows of the pass being run.
    var passRows = 0
    /// When set, wall time per operation kind is added to it (nil costs nothing).
    var profile: OpProfile?
    /// Passes of at most this many rows use lk_decode_qmatvec (W read once in its stored form).
    static let matvecRows = 4
    /// When false, decode steps use the panel-dequantizing lk_qmatmul_fwd too (for comparisons).
    public var useMatVec = true

    /// - Parameters:
    ///   - maxContext: positions of the KV cache (prompt + generated tokens); capped at the model's context length.
    ///   - maxChunk: rows of one prefill pass (longer prompts run in several passes).
    ///   - maxRank: largest adapter rank this decoder will run (buffers are sized for it).
    public init(weights: ModelWeights, maxContext: Int, maxChunk: Int = 128, maxRank: Int = 64, pool: ThreadPool) throws {
        let c = weights.config
        guard maxContext >= 1 else { throw DecoderError.invalidMaxContext(maxContext) }
        let ctx = c.contextLength > 0 ? min(maxContext, c.contextLength) : maxContext
        self.weights = weights
        self.config = c
        self.maxContext = ctx
        self.maxChunk = max(1, min(maxChunk, ctx))
        self.maxRank = max(1, maxRank)
        self.pool = pool
        var b = BufferBuilder.allocating()
        buffers = DecoderBuffers(config: c, context: ctx, chunk: self.maxChunk, maxRank: self.maxRank,
                                 attentionScratch: lk_decode_attention_scratch_floats(pool.raw, Int64(ctx)),
                                 matvecScratch: lk_decode_qmatvec_scratch_floats(pool.raw, Int64(max(c.embeddingLength, c.feedForwardLength, c.qDim))),
                                 &b)
        buffers.frozen.load(weights)
        let qBytes = LlamaGraph.dequantScratchBytes(weights, pool: pool)
        qScratch = UnsafeMutableRawPointer.allocate(byteCount: qBytes, alignment: 64)
    }

    deinit { qScratch.deallocate() }

    /// Bytes of the KV cache.
    public var cacheBytes: Int { (buffers.kCache + buffers.vCache).reduce(0) { $0 + $1.bytes } }

    /// Sets the adapter for the next sequence (nil = base only) and empties the cache.
    public func setAdapter(_ a: LoRAAdapter?) throws {
        if let a {
            guard a.config.rank <= maxRank else {
                throw DecoderError.adapterMismatch(name: a.name, message: "rank \(a.config.rank) exceeds the decoder's maxRank \(maxRank)")
            }
            for s in a.slots {
                let (o, i) = s.target.shape(config)
                guard s.layer < config.blockCount, s.outFeatures == o, s.inFeatures == i else {
                    throw DecoderError.adapterMismatch(name: a.name, message: "layer \(s.layer) \(s.target.rawValue) is [\(s.outFeatures), \(s.inFeatures)], the model's is [\(o), \(i)]")
                }
            }
        }
        adapter = a
        reset()
    }

    /// Empties the cache (a new sequence starts at position 0).
    public func reset() { position = 0 }

    /// Appends `tokens` to the sequence and returns the logits of its last token. [V]
    public func append(_ tokens: [Int32]) throws -> [Float] {
        try append(tokens, allLogits: false)
    }

    /// Appends `tokens`; returns the logits of every appended token ([n, V] flat) when `allLogits`,
    /// else of the last one ([V]).
    public func append(_ tokens: [Int32], allLogits: Bool) throws -> [Float] {
        guard !tokens.isEmpty else { throw DecoderError.emptyInput }
        guard position + tokens.count <= maxContext else {
            throw DecoderError.contextFull(needed: position + tokens.count, max: maxContext)
        }
        let V = config.vocabSize, logitsBuf = buffers.logits
        if let bad = tokens.firstIndex(where: { $0 < 0 || Int($0) >= V }) {
            throw DecoderError.tokenOutOfRange(index: bad, id: tokens[bad], vocab: V)
        }
        var out = [Float]()
        out.reserveCapacity(allLogits ? tokens.count * V : V)
        var i = 0
        while i < tokens.count {
            let n = min(maxChunk, tokens.count - i)
            let last = i + n == tokens.count
            forwardChunk(Array(tokens[i..<(i + n)]), headRows: allLogits ? n : (last ? 1 : 0))
            if allLogits {
                out.append(contentsOf: UnsafeBufferPointer(start: logitsBuf.ptr, count: n * V))
            } else if last {
                out.append(contentsOf: UnsafeBufferPointer(start: logitsBuf.ptr, count: V))
            }
            i += n
        }
        return out
    }
}
