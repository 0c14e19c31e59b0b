import Foundation

/// How `AdapterFactors.combine` joins adapters, as PEFT's `add_weighted_adapter(combination_type:)` does.
public enum CombineMethod: String, Codable, Sendable, CaseIterable {
    /// Weighted sums of the factors themselves (A and B each scaled by √|w·s|, the sign on A); all
    /// adapters must have the same rank. Not the weighted sum of the updates (B·A has cross terms).
    case linear
    /// Factors stacked: rank Σ rᵢ, ΔW = Σ wᵢ·ΔWᵢ exactly.
    case cat
    /// Σ wᵢ·ΔWᵢ truncated to a rank by SVD (best rank-k approximation).
    case svd
}

public enum CombineError: Error, CustomStringConvertible, Equatable {
    case noAdapters
    case weightCount(adapters: Int, weights: Int)
    case rankMismatch([Int])
    case shapeMismatch(module: String, [String])
    case invalidRank(Int, max: Int)

    public var description: String {
        switch self {
        case .noAdapters: return "no adapters to combine"
        case .weightCount(let a, let w): return "\(a) adapters but \(w) weights; give one weight per adapter"
        case .rankMismatch(let r):
            return "the linear method needs adapters of one rank (got ranks \(r.map(String.init).joined(separator: ", "))); use cat or svd"
        case .shapeMismatch(let m, let shapes):
            return "\(m) has different shapes in the adapters (\(shapes.joined(separator: " vs "))): they were made for different base models"
        case .invalidRank(let k, let m): return "the combined rank must be between 1 and \(m) (got \(k))"
        }
    }
}

extension AdapterFactors {
    /// Combines adapters with weights (PEFT `add_weighted_adapter` semantics: the new adapter has
    /// rank r' — the common rank for linear, Σ rᵢ for cat, `rank` or max rᵢ for svd — and
    /// lora_alpha = r', rsLoRA as the first adapter; modules missing from an adapter contribute
    /// nothing; the target modules are the union). B rows keep the sources' order (all three
    /// methods commute with a row permutation).
    public static func combine(_ adapters: [AdapterFactors], weights: [Double], method: CombineMethod,
                               rank: Int? = nil) throws -> AdapterFactors {
        guard let first = adapters.first else { throw CombineError.noAdapters }
        guard weights.count == adapters.count else { throw CombineError.weightCount(adapters: adapters.count, weights: weights.count) }
        let method = adapters.count == 1 ? .linear : method   // as PEFT: one adapter is always linear
        var modules: [String: (layer: Int, target: LoRATarget, out: Int, in: Int, parts: [(i: Int, m: AdapterMatrix)])] = [:]
        for (i, a) in adapters.enumerated() {
            for m in a.matrices {
                var e = modules[m.name] ?? (m.layer, m.target, m.outFeatures, m.inFeatures, [])
                if e.out != m.outFeatures || e.in != m.inFeatures {
                    throw CombineError.shapeMismatch(module: m.name, ["\(e.out)×\(e.in)", "\(m.outFeatures)×\(m.inFeatures)"])
                }
                e.parts.append((i, m))
                modules[m.name] = e
            }
        }
        let ranks = adapters.map(\.rank)
        let newRank: Int
        switch method {
        case .linear:
            guard Set(ranks).count == 1 else { throw CombineError.rankMismatch(ranks) }
            newRank = ranks[0]
        case .cat: newRank = ranks.reduce(0, +)
        case .svd:
            newRank = rank ?? ranks.max()!
            let limit = modules.values.map { min($0.out, $0.in) }.min() ?? 0
            guard newRank >= 1, newRank <= limit else { throw CombineError.invalidRank(newRank, max: limit) }
        }
        // Per adapter: w·s in Float as PEFT multiplies (weight × scaling).
        let ws = zip(adapters, weights).map { Double($0.scale) * $1 }
        var out: [AdapterMatrix] = []
        for (_, e) in modules.sorted(by: { ($0.value.layer, $0.value.target.index) < ($1.value.layer, $1.value.target.index) }) {
            let O = e.out, I = e.in, k = newRank
            var a = [Float](repeating: 0, count: k * I)   // [k, in]
            var b = [Float](repeating: 0, count: O * k)   // [out, k]
            switch method {
            case .linear:
                for (i, m) in e.parts {
                    let f = abs(ws[i]).squareRoot(), fa = ws[i] >= 0 ? f : -f
                    for j in 0..<(k * I) { a[j] += Float(fa * Double(m.a[j])) }
                    for j in 0..<(O * k) { b[j] += Float(f * Double(m.b[j])) }
                }
            case .cat, .svd:
                // Stack [w₁s₁A₁; w₂s₂A₂; …] and [B₁ B₂ …]: the product is Σ wᵢsᵢBᵢAᵢ exactly.
                let total = e.parts.reduce(0) { $0 + adapters[$1.i].rank }
                var ca = [Float](repeating: 0, count: total * I), cb = [Float](repeating: 0, count: O * total)
                var row = 0
                for (i, m) in e.parts {
                    let r = adapters[i].rank, w = Float(ws[i])
                    for q in 0..<r {
                        for j in 0..<I { ca[(row + q) * I + j] = m.a[q * I + j] * w }
                        for o in 0..<O { cb[o * total + row + q] = m.b[o * r + q] }
                    }
                    row += r
                }
                if method == .cat {
                    for q in 0..<total {
                        for j in 0..<I { a[q * I + j] = ca[q * I + j] }
                        for o in 0..<O { b[o * k + q] = cb[o * total + q] }
                    }
                } else {
                    // ΔW = U Σ Vᵀ from the stacked factors (never formed): B = U_k Σ_k, A = V_kᵀ, as PEFT.
                    let svd = try LowRankSVD.decompose(b: cb, a: ca, out: O, in: I, rank: total, scale: 1, vectors: true, name: "layers.\(e.layer).\(e.target.rawValue)")
                    guard let u = svd.u, let v = svd.v else { throw AnalyzeError.lapack(routine: "vectors", matrix: "\(e.layer)", info: -1000) }
                    for j in 0..<min(k, svd.singularValues.count) {
                        let s = svd.singularValues[j]
                        for o in 0..<O { b[o * k + j] = Float(u[j * O + o] * s) }
                        for i2 in 0..<I { a[j * I + i2] = Float(v[j * I + i2]) }
                    }
                }
            }
            out.append(AdapterMatrix(layer: e.layer, target: e.target, outFeatures: O, inFeatures: I, a: a, b: b))
        }
        var cfg: Data?
        if let data = first.configJSON, var obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            obj["r"] = newRank
            obj["lora_alpha"] = newRank
            obj["target_modules"] = Array(Set(out.map(\.target))).sorted().map(\.rawValue)
            obj["layers_to_transform"] = NSNull()
            cfg = try? JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        }
        return AdapterFactors(rank: newRank, alpha: Float(newRank), useRSLoRA: first.useRSLoRA, matrices: out, configJSON: cfg)
    }
}

extension LoRAParameters {
    /// Several PEFT adapters applied at once with weights: ΔW = Σ wᵢ·ΔWᵢ (the `cat` combination,
    /// exact), as one set of factors over `model`.
    public static func stacked(_ adapters: [(path: String, weight: Double)], model: LlamaConfig) throws -> LoRAParameters {
        let factors = try adapters.map { try AdapterFactors.loadPEFT(from: $0.path) }
        let combined = try AdapterFactors.combine(factors, weights: adapters.map(\.weight), method: .cat)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-stack-\(getpid())-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        try combined.savePEFT(to: tmp)
        return try loadPEFT(from: tmp, model: model)
    }
}
