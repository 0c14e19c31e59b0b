import Foundation

/// Where one adapted matrix's factors live in the flat parameter vector.
public struct LoRASlot: Sendable, Codable, Equatable {
    public var layer: Int
    public var target: LoRATarget
    public var outFeatures: Int
    public var inFeatures: Int
    /// Offset of A [r, in] in the flat vector.
    public var aOffset: Int
    /// Offset of B [out, r] in the flat vector (rows in the model's GGUF order: q/k permuted).
    public var bOffset: Int
    /// DoRA only: offset of the magnitude m [out] in the flat vector (GGUF row order), and of this slot's first row
    /// among the adapted rows of all slots (index into the runners' per-row DoRA norms).
    public var magnitudeOffset: Int? = nil
    public var rowOffset: Int? = nil
}

/// The trainable LoRA factors of a model, in one flat fp32 vector (so the optimizer, clipping and
/// checkpoints treat them as one array). Layout: for each layer, for each target in order, A then B (then the
/// DoRA magnitude m [out] with `useDoRA`).
public struct LoRAParameters: Sendable, Equatable {
    public let config: LoRAConfig
    public let slots: [LoRASlot]
    /// All A and B values, [count].
    public var values: [Float]

    /// Number of trainable parameters.
    public var count: Int { values.count }

    /// Lays out and initializes the factors as PEFT does: A ~ U(±1/√in) (kaiming-uniform with a=√5),
    /// drawn from a seeded generator; B = 0. DoRA magnitudes are left 0: `init(config:weights:)` sets them to the
    /// base's row norms (a loader overwrites them).
    public init(config: LoRAConfig, model: LlamaConfig) throws {
        try self.init(zeroed: config, model: model)
        var v = values
        values = []
        for s in slots {
            let n = config.rank * s.inFeatures
            let a = SplitMix64.uniformSymmetric(seed: LoRAParameters.seed(config.seed, s.layer, s.target, isB: false), count: n)
            let bound = 1 / Float(s.inFeatures).squareRoot()
            for j in 0..<n { v[s.aOffset + j] = a[j] * bound }
        }
        if config.quantAware { QuantAwareLoRA.makeGroupConstant(&v, slots: slots, rank: config.rank) }
        self.values = v
    }

    /// All-zero factors in the layout of `config` (no initialization draw).
    init(zeroed config: LoRAConfig, model: LlamaConfig) throws {
        try config.validate(for: model)
        self.config = config
        var slots: [LoRASlot] = []
        var off = 0, row = 0
        for layer in 0..<model.blockCount {
            for t in config.targets {
                let (o, i) = t.shape(model)
                var s = LoRASlot(layer: layer, target: t, outFeatures: o, inFeatures: i, aOffset: off, bOffset: off + config.rank * i)
                off += config.rank * (i + o)
                if config.useDoRA {
                    s.magnitudeOffset = off
                    s.rowOffset = row
                    off += o
                    row += o
                }
                slots.append(s)
            }
        }
        self.slots = slots
        values = [Float](repeating: 0, count: off)
    }

    /// A new adapter for training on `weights`: as `init(config:model:)`, with DoRA magnitudes m = ‖W0 row‖ (PEFT's
    /// initialization: with B = 0 that is ‖W0 + s·B·A‖, so the adapted model starts equal to the base).
    public init(config: LoRAConfig, weights: ModelWeights) throws {
        try self.init(config: config, model: weights.config)
        for s in slots {
            guard let mo = s.magnitudeOffset else { continue }
            let n2 = weights.layers[s.layer].matrix(s.target).rowSquaredNorms()
            // Rounded as the runners' norms are (‖W0 row‖² cached in fp32), so m/‖W0 + s·B·A‖ is exactly 1 at B = 0.
            for j in 0..<s.outFeatures { values[mo + j] = Float(Double(Float(n2[j])).squareRoot()) }
        }
    }

    /// Rows adapted by DoRA over all slots (0 without DoRA): the length of the runners' per-row DoRA buffers.
    static func doraRows(_ slots: [LoRASlot]) -> Int { slots.reduce(0) { $0 + ($1.magnitudeOffset == nil ? 0 : $1.outFeatures) } }

    /// Seed of one factor: `1000·layer + 10·module + (0 for A, 1 for B)`, mixed with the run seed.
    public static func seed(_ runSeed: UInt64, _ layer: Int, _ target: LoRATarget, isB: Bool) -> UInt64 {
        runSeed &* 1_000_003 &+ UInt64(1000 * layer + 10 * target.index + (isB ? 1 : 0))
    }

    /// The slot of a (layer, target), if adapted.
    public func slot(layer: Int, target: LoRATarget) -> LoRASlot? {
        LoRAParameters.slot(in: slots, config: config, layer: layer, target: target)
    }

    /// The slot of a (layer, target) in the layout `init` makes (layer-major, targets in `config` order): the one
    /// lookup the training graph, the generation decoder and the merge share.
    static func slot(in slots: [LoRASlot], config: LoRAConfig, layer: Int, target: LoRATarget) -> LoRASlot? {
        guard let ti = config.targets.firstIndex(of: target), layer >= 0 else { return nil }
        let k = layer * config.targets.count + ti
        return k < slots.count ? slots[k] : nil
    }

    /// PEFT's `print_trainable_parameters` line: trainable, all (base + LoRA) and the percentage.
    public static func peftLine(trainable: Int, baseParameters: Int) -> String {
        let all = baseParameters + trainable
        let pct = all == 0 ? 0 : 100 * Double(trainable) / Double(all)
        return "trainable params: \(grouped(trainable)) || all params: \(grouped(all)) || trainable%: \(String(format: "%.4f", pct))"
    }

    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, ch) in s.enumerated() {
            if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return out
    }
}

extension LlamaConfig {
    /// Parameters of the base model as PEFT counts them (tied embeddings counted once).
    public var parameterCount: Int {
        let c = embeddingLength, f = feedForwardLength
        var perLayer = 2 * c * qDim + 2 * c * kvDim + 3 * c * f + 2 * c
        if attentionBias { perLayer += qDim + 2 * kvDim }
        if qkNorm { perLayer += 2 * headDim }
        if postNorms { perLayer += 2 * c }
        return vocabSize * c * (tiedEmbeddings ? 1 : 2) + blockCount * perLayer + c
    }
}
