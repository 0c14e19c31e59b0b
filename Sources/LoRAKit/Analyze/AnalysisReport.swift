import Foundation

/// Aggregates over the matrices of one module kind (e.g. all `q_proj`).
public struct ModuleSummary: Codable, Sendable, Equatable {
    public var module: String
    public var matrices: Int
    /// Root of the summed ‖ΔW‖_F² of these matrices.
    public var totalNorm: Double
    public var meanNorm: Double
    /// Mean ‖ΔW‖/‖W0‖ (nil without the base model).
    public var meanRelativeUpdate: Double?
    public var meanEffectiveRank90: Double
    public var meanEffectiveRank99: Double

    enum CodingKeys: String, CodingKey {
        case module, matrices, totalNorm = "total_norm", meanNorm = "mean_norm", meanRelativeUpdate = "mean_relative_update"
        case meanEffectiveRank90 = "mean_effective_rank_90", meanEffectiveRank99 = "mean_effective_rank_99"
    }
}

/// Aggregates over the adapted matrices of one layer.
public struct LayerSummary: Codable, Sendable, Equatable {
    public var layer: Int
    /// Root of the summed ‖ΔW‖_F² of the layer's adapted matrices.
    public var totalNorm: Double
    /// ‖ΔW‖_F per module kind, in target order.
    public var norms: [String: Double]

    enum CodingKeys: String, CodingKey { case layer, totalNorm = "total_norm", norms }
}

/// How many matrices a smaller rank would have served.
public struct RankSufficiency: Codable, Sendable, Equatable {
    public var rank: Int
    /// Matrices whose top-`rank` singular values hold ≥ 90% of their update's energy.
    public var matricesAt90: Int
    /// Matrices whose top-`rank` singular values hold ≥ 99% of their update's energy.
    public var matricesAt99: Int

    enum CodingKeys: String, CodingKey { case rank, matricesAt90 = "matrices_at_90", matricesAt99 = "matrices_at_99" }
}

/// Everything `lorakit analyze` reports about an adapter.
public struct AdapterAnalysis: Codable, Sendable, Equatable {
    public var adapter: String
    public var rank: Int
    public var alpha: Float
    public var scale: Float
    public var useRSLoRA: Bool
    public var matrices: [MatrixSpectrum]
    public var modules: [ModuleSummary]
    public var layers: [LayerSummary]
    /// For k = 1…r.
    public var sufficiency: [RankSufficiency]
    /// Total energy Σ‖ΔW‖_F² over all matrices, and the share each rank k keeps of it (k = 1…r).
    public var totalEnergy: Double
    public var keptEnergyShare: [Double]

    enum CodingKeys: String, CodingKey {
        case adapter, rank, alpha, scale, useRSLoRA = "use_rslora", matrices, modules, layers, sufficiency
        case totalEnergy = "total_energy", keptEnergyShare = "kept_energy_share"
    }

    /// Aggregates per-matrix spectra.
    public init(adapter: String, factors: AdapterFactors, spectra: [MatrixSpectrum]) {
        self.adapter = adapter
        rank = factors.rank
        alpha = factors.alpha
        scale = factors.scale
        useRSLoRA = factors.useRSLoRA
        matrices = spectra
        let kinds = LoRATarget.allCases.map(\.rawValue).filter { k in spectra.contains { $0.module == k } }
        modules = kinds.map { k in
            let ms = spectra.filter { $0.module == k }
            let n = Double(ms.count)
            let rel = ms.compactMap(\.relativeUpdate)
            return ModuleSummary(module: k, matrices: ms.count,
                                 totalNorm: ms.reduce(0) { $0 + $1.frobeniusNorm * $1.frobeniusNorm }.squareRoot(),
                                 meanNorm: ms.reduce(0) { $0 + $1.frobeniusNorm } / n,
                                 meanRelativeUpdate: rel.count == ms.count ? rel.reduce(0, +) / n : nil,
                                 meanEffectiveRank90: Double(ms.reduce(0) { $0 + $1.effectiveRank90 }) / n,
                                 meanEffectiveRank99: Double(ms.reduce(0) { $0 + $1.effectiveRank99 }) / n)
        }
        layers = Array(Set(spectra.map(\.layer))).sorted().map { l in
            let ms = spectra.filter { $0.layer == l }
            var norms: [String: Double] = [:]
            for m in ms { norms[m.module] = m.frobeniusNorm }
            return LayerSummary(layer: l, totalNorm: ms.reduce(0) { $0 + $1.frobeniusNorm * $1.frobeniusNorm }.squareRoot(), norms: norms)
        }
        let r = factors.rank
        sufficiency = (1...max(1, r)).map { k in
            RankSufficiency(rank: k, matricesAt90: spectra.filter { $0.effectiveRank90 <= k }.count,
                            matricesAt99: spectra.filter { $0.effectiveRank99 <= k }.count)
        }
        totalEnergy = spectra.reduce(0) { $0 + $1.frobeniusNorm * $1.frobeniusNorm }
        let te = totalEnergy
        keptEnergyShare = (1...max(1, r)).map { k in
            guard te > 0 else { return 1 }
            return spectra.reduce(0) { acc, m in acc + m.singularValues.prefix(k).reduce(0) { $0 + $1 * $1 } } / te
        }
    }

    /// The smallest rank keeping ≥ 99% of the energy in at least `fraction` of the matrices.
    public func sufficientRank(fraction: Double = 1) -> Int {
        let need = Int((Double(matrices.count) * fraction).rounded(.up))
        return sufficiency.first { $0.matricesAt99 >= need }?.rank ?? rank
    }

    /// A human-readable report: summary lines first, then per-module and per-layer tables, and the top matrices.
    public func text(top: Int = 8) -> String {
        var s = "adapter \(adapter): \(matrices.count) matrices, r=\(rank), alpha=\(JSONText.number(alpha)), scale=\(fmt(Double(scale)))"
            + (useRSLoRA ? " (rsLoRA)" : "") + "\n"
        let n = matrices.count
        let suff = sufficientRank()
        let suff90 = sufficiency.first { $0.matricesAt90 >= n }?.rank ?? rank
        s += "rank that keeps >= 99% of the update energy in every matrix: \(suff) (of \(rank)); >= 90%: \(suff90)\n"
        for k in Array(Set([1, 2, 4, 8, suff, rank])).sorted() where k <= rank {
            let row = sufficiency[k - 1]
            s += "  rank \(k) keeps >= 99% of the update energy in \(row.matricesAt99) of \(n) matrices, >= 90% in \(row.matricesAt90); "
                + "\(String(format: "%.1f", 100 * keptEnergyShare[k - 1]))% of all update energy\n"
        }
        let hasBase = matrices.allSatisfy { $0.relativeUpdate != nil }
        if let m = modules.max(by: { $0.totalNorm < $1.totalNorm }) {
            s += "module kind that changed most: \(m.module) (total ||dW||_F \(fmt(m.totalNorm)))"
            if hasBase, let mr = modules.max(by: { ($0.meanRelativeUpdate ?? 0) < ($1.meanRelativeUpdate ?? 0) }) {
                s += "; largest relative change: \(mr.module) (mean ||dW||/||W0|| \(fmt(mr.meanRelativeUpdate ?? 0)))"
            }
            s += "\n"
        }
        if let l = layers.max(by: { $0.totalNorm < $1.totalNorm }) {
            let topLayers = layers.sorted { $0.totalNorm > $1.totalNorm }.prefix(3).map { "\($0.layer)" }.joined(separator: ", ")
            s += "layer that changed most: \(l.layer) (||dW||_F \(fmt(l.totalNorm))); top layers: \(topLayers)\n"
        }
        s += "\nmodule      n   total |dW|   mean |dW|  " + (hasBase ? "mean |dW|/|W0|  " : "") + "eff.rank90  eff.rank99\n"
        for m in modules {
            s += m.module.padding(toLength: 10, withPad: " ", startingAt: 0) + " " + lpad(String(m.matrices), 3) + "  " + lpad(fmt(m.totalNorm), 11) + " " + lpad(fmt(m.meanNorm), 11) + "  "
            if hasBase { s += lpad(fmt(m.meanRelativeUpdate ?? 0), 14) + "  " }
            s += String(format: "%10.2f  %10.2f\n", m.meanEffectiveRank90, m.meanEffectiveRank99)
        }
        s += "\nlayer  total |dW|   " + modules.map { $0.module.padding(toLength: 10, withPad: " ", startingAt: 0) }.joined(separator: " ") + "\n"
        for l in layers {
            s += lpad(String(l.layer), 5) + "  " + lpad(fmt(l.totalNorm), 11) + "   "
                + modules.map { (l.norms[$0.module].map(fmt) ?? "-").padding(toLength: 10, withPad: " ", startingAt: 0) }.joined(separator: " ") + "\n"
        }
        let key: (MatrixSpectrum) -> Double = hasBase ? { $0.relativeUpdate ?? 0 } : { $0.frobeniusNorm }
        s += "\ntop \(min(top, n)) matrices by " + (hasBase ? "||dW||/||W0||" : "||dW||_F") + ":\n"
        for m in matrices.sorted(by: { key($0) > key($1) }).prefix(top) {
            s += "  " + m.name.padding(toLength: 22, withPad: " ", startingAt: 0) + " |dW|_F \(fmt(m.frobeniusNorm))"
                + (m.relativeUpdate.map { "  |dW|/|W0| \(fmt($0))" } ?? "")
                + "  sigma " + m.singularValues.prefix(4).map(fmt).joined(separator: " ") + (m.singularValues.count > 4 ? " …" : "")
                + "  eff.rank 90%/99%: \(m.effectiveRank90)/\(m.effectiveRank99)\n"
        }
        return s
    }

    func fmt(_ x: Double) -> String { String(format: "%.4g", x) }
    func lpad(_ t: String, _ n: Int) -> String { t.count >= n ? t : String(repeating: " ", count: n - t.count) + t }
}
