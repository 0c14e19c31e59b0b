import CKernels

/// AdamW hyper-parameters (PyTorch's defaults except the learning rate).
public struct AdamWConfig: Codable, Sendable, Equatable {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    /// Clip the global gradient norm to this value (nil or ≤ 0: no clipping).
    public var maxGradNorm: Float?
    /// LoRA+: B (and DoRA's magnitudes, as PEFT's `create_loraplus_optimizer` groups them) learn at this multiple of
    /// the learning rate; nil: one learning rate for all.
    public var loraPlusRatio: Float?

    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01, maxGradNorm: Float? = 1.0,
                loraPlusRatio: Float? = nil) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.maxGradNorm = maxGradNorm
        self.loraPlusRatio = loraPlusRatio
    }
}

extension AdamWConfig {
    enum CodingKeys: String, CodingKey { case beta1, beta2, eps, weightDecay, maxGradNorm, loraPlusRatio }

    /// Decodes a possibly partial configuration: missing keys keep their defaults.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? beta2
        eps = try c.decodeIfPresent(Float.self, forKey: .eps) ?? eps
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? weightDecay
        if c.contains(.maxGradNorm) { maxGradNorm = try c.decodeIfPresent(Float.self, forKey: .maxGradNorm) }
        loraPlusRatio = try c.decodeIfPresent(Float.self, forKey: .loraPlusRatio)
    }
}

/// AdamW state over the flat LoRA parameter vector: first and second moments and the step count.
final class AdamWState {
    let config: AdamWConfig
    let m: FloatBuffer
    let v: FloatBuffer
    private(set) var step: Int = 0
    /// Runs of the parameter vector and their learning-rate multipliers (one run of ×1 without LoRA+).
    let runs: [(range: Range<Int>, lrScale: Float)]

    /// `slots`: the parameters' layout, for LoRA+ (B and DoRA's m at `config.loraPlusRatio` × lr).
    init(count: Int, config: AdamWConfig, slots: [LoRASlot] = []) {
        self.config = config
        m = FloatBuffer(count)
        v = FloatBuffer(count)
        runs = AdamWState.runs(count: count, slots: slots, ratio: config.loraPlusRatio)
    }

    /// The learning-rate runs of a LoRAParameters layout: A at ×1, B and m (which follow it) at ×ratio.
    static func runs(count: Int, slots: [LoRASlot], ratio: Float?) -> [(range: Range<Int>, lrScale: Float)] {
        guard let ratio, ratio != 1, !slots.isEmpty else { return [(0 ..< count, 1)] }
        var out: [(range: Range<Int>, lrScale: Float)] = []
        let starts = slots.map(\.aOffset).sorted()
        for (i, s) in slots.sorted(by: { $0.aOffset < $1.aOffset }).enumerated() {
            let end = i + 1 < starts.count ? starts[i + 1] : count
            out.append((s.aOffset ..< s.bOffset, 1))
            out.append((s.bOffset ..< end, ratio))
        }
        return out
    }

    /// Global L2 norm of the gradients.
    static func gradNorm(_ g: FloatBuffer) -> Double { lk_sum_squares(g.ptr, Int64(g.count)).squareRoot() }

    /// One update of `params` from `grads` at learning rate `lr`; clips by global norm first.
    /// Returns the gradient norm before clipping.
    @discardableResult
    func update(params: FloatBuffer, grads: FloatBuffer, lr: Float, gradNorm: Double? = nil) -> Double {
        let norm = gradNorm ?? AdamWState.gradNorm(grads)
        var scale: Float = 1
        if let maxNorm = config.maxGradNorm, maxNorm > 0, norm > Double(maxNorm) {
            scale = Float(Double(maxNorm) / (norm + 1e-6))
        }
        step += 1
        for (r, k) in runs {
            lk_adamw_step(params.ptr + r.lowerBound, m.ptr + r.lowerBound, v.ptr + r.lowerBound, grads.ptr + r.lowerBound,
                          Int64(r.count), lr * k, config.beta1, config.beta2, config.eps, config.weightDecay, Int64(step), scale)
        }
        return norm
    }

    /// Restores a saved state (checkpoint resume).
    func restore(m mv: [Float], v vv: [Float], step s: Int) {
        m.copy(from: mv)
        v.copy(from: vv)
        step = s
    }
}
