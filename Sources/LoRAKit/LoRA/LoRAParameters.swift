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
}

/// The trainable LoRA factors of a model, in one flat fp32 vector (so the optimizer, clipping and
/// checkpoints treat them as one array). Layout: for each layer, for each target in order, A then B.
public struct LoRAParameters: Sendable, Equatable {
    public let config: LoRAConfig
    public let slots: [LoRASlot]
    /// All A and B values, [count].
    public var values: [Float]

    /// Number of trainable parameters.
    public var count: Int { values.count }

    /// Lays out and initializes the factors as PEFT does: A ~ U(±1/√in) (kaiming-uniform with a=√5),
    /// drawn from a seeded generator; B = 0.
    public init(config: LoRAConfig, model: LlamaConfig) throws {
        try config.validate(for: model)
        self.config = config
        var slots: [LoRASlot] = []
        var off = 0
        for layer in 0..<model.blockCount {
            for t in config.targets {
                let (o, i) = t.shape(model)
                slots.append(LoRASlot(layer: layer, target: t, outFeatures: o, inFeatures: i, aOffset: off, bOffset: off + config.rank * i))
                off += config.rank * (i + o)
            }
        }
        self.slots = slots
        var v = [Float](repeating: 0, count: off)
        for s in slots {
            let n = config.rank * s.inFeatures
            let a = SplitMix64.uniformSymmetric(seed: LoRAParameters.seed(config.seed, s.layer, s.target, isB: false), count: n)
            let bound = 1 / Float(s.inFeatures).squareRoot()
            for j in 0..<n { v[s.aOffset + j] = a[j] * bound }
        }
        self.values = v
    }

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
