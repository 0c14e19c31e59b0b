import Foundation

/// Learning-rate schedule: linear warmup to the peak, then constant, linear or cosine decay.
public struct LRSchedule: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable, CaseIterable { case constant, linear, cosine }

    public var kind: Kind
    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    /// Floor of the decay as a fraction of the peak.
    public var minRatio: Float

    public init(kind: Kind = .cosine, peak: Float = 1e-4, warmupSteps: Int = 0, totalSteps: Int, minRatio: Float = 0) {
        self.kind = kind
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minRatio = minRatio
    }

    /// Learning rate of optimizer step `step` (0-based), as transformers' schedulers compute it.
    public func rate(at step: Int) -> Float {
        if warmupSteps > 0 && step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = max(1, totalSteps - warmupSteps)
        let p = min(1, max(0, Float(step - warmupSteps) / Float(span)))
        let floor = peak * minRatio
        switch kind {
        case .constant: return peak
        case .linear: return floor + (peak - floor) * (1 - p)
        case .cosine: return floor + (peak - floor) * 0.5 * (1 + cos(Float.pi * p))
        }
    }
}
