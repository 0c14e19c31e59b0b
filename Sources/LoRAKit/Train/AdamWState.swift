import CKernels

/// AdamW hyper-parameters (PyTorch's defaults except the learning rate).
public struct AdamWConfig: Codable, Sendable, Equatable {
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    /// Clip the global gradient norm to this value (nil or ≤ 0: no clipping).
    public var maxGradNorm: Float?

    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01, maxGradNorm: Float? = 1.0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.maxGradNorm = maxGradNorm
    }
}

extension AdamWConfig {
    enum CodingKeys: String, CodingKey { case beta1, beta2, eps, weightDecay, maxGradNorm }

    /// Decodes a possibly partial configuration: missing keys keep their defaults.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        beta1 = try c.decodeIfPresent(Float.self, forKey: .beta1) ?? beta1
        beta2 = try c.decodeIfPresent(Float.self, forKey: .beta2) ?? beta2
        eps = try c.decodeIfPresent(Float.self, forKey: .eps) ?? eps
        weightDecay = try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? weightDecay
        if c.contains(.maxGradNorm) { maxGradNorm = try c.decodeIfPresent(Float.self, forKey: .maxGradNorm) }
    }
}

/// AdamW state over the flat LoRA parameter vector: first and second moments and the step count.
final class AdamWState {
    let config: AdamWConfig
    let m: FloatBuffer
    let v: FloatBuffer
    private(set) var step: Int = 0

    init(count: Int, config: AdamWConfig) {
        self.config = config
        m = FloatBuffer(count)
        v = FloatBuffer(count)
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
        lk_adamw_step(params.ptr, m.ptr, v.ptr, grads.ptr, Int64(params.count), lr, config.beta1, config.beta2, config.eps,
                      config.weightDecay, Int64(step), scale)
        return norm
    }

    /// Restores a saved state (checkpoint resume).
    func restore(m mv: [Float], v vv: [Float], step s: Int) {
        m.copy(from: mv)
        v.copy(from: vv)
        step = s
    }
}
