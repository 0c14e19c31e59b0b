import Foundation

/// How much of one matrix's update a rank reduction dropped.
public struct ReductionLoss: Codable, Sendable, Equatable {
    public var layer: Int
    public var module: String
    /// Σ_{i>K} σ_i²: the squared Frobenius error ‖ΔW − ΔW_K‖_F² of the best rank-K approximation.
    public var discardedEnergy: Double
    /// discardedEnergy / ‖ΔW‖_F² (0 when ΔW = 0).
    public var discardedShare: Double

    enum CodingKeys: String, CodingKey {
        case layer, module, discardedEnergy = "discarded_energy", discardedShare = "discarded_share"
    }
}

extension AdapterFactors {
    /// The alpha of a rank-`k` adapter with the same scale as this one: scale·k (or scale·√k with rsLoRA).
    public func alpha(forRank k: Int) -> Float {
        let s = Double(scale)
        return Float(useRSLoRA ? s * Double(k).squareRoot() : s * Double(k))
    }

    /// The best rank-`k` approximation of every update (truncated SVD, Eckart–Young), split back into
    /// factors B' = U_k·√(Σ_k/s') [out, k] and A' = √(Σ_k/s')·V_kᵀ [k, in], where s' is the scale the
    /// new adapter gets (alpha' = `alpha(forRank: k)`, computed in Float as a loader does), so that
    /// s'·B'·A' = U_k·Σ_k·V_kᵀ. B rows keep the source's row order. Also returns what each matrix lost.
    public func reduced(toRank k: Int) throws -> (factors: AdapterFactors, losses: [ReductionLoss]) {
        guard k >= 1, k <= rank else { throw AnalyzeError.invalidTargetRank(k, adapterRank: rank) }
        let alphaK = alpha(forRank: k)
        let scaleK = LoRAConfig(rank: k, alpha: alphaK, useRSLoRA: useRSLoRA).scale
        guard scaleK.isFinite, scaleK > 0 else { throw AnalyzeError.invalidScale(scaleK) }
        let sc = scale
        var out: [AdapterMatrix] = []
        var losses: [ReductionLoss] = []
        out.reserveCapacity(matrices.count)
        for m in matrices {
            let svd = try LowRankSVD.decompose(b: m.b, a: m.a, out: m.outFeatures, in: m.inFeatures, rank: rank, scale: sc,
                                               vectors: true, name: m.name)
            guard let u = svd.u, let v = svd.v else { throw AnalyzeError.lapack(routine: "vectors", matrix: m.name, info: -1000) }
            let sigma = svd.singularValues
            let O = m.outFeatures, I = m.inFeatures
            var b = [Float](repeating: 0, count: O * k)  // [out, k]
            var a = [Float](repeating: 0, count: k * I)  // [k, in]
            for j in 0..<k {
                let f = (max(0, sigma[j]) / Double(scaleK)).squareRoot()
                for i in 0..<O { b[i * k + j] = Float(u[j * O + i] * f) }
                for i in 0..<I { a[j * I + i] = Float(v[j * I + i] * f) }
            }
            out.append(AdapterMatrix(layer: m.layer, target: m.target, outFeatures: O, inFeatures: I, a: a, b: b))
            let total = sigma.reduce(0) { $0 + $1 * $1 }
            let dropped = sigma[k...].reduce(0) { $0 + $1 * $1 }
            losses.append(ReductionLoss(layer: m.layer, module: m.target.rawValue, discardedEnergy: dropped,
                                        discardedShare: total > 0 ? dropped / total : 0))
        }
        var cfg = configJSON
        if let data = configJSON, var obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            obj["r"] = k
            obj["lora_alpha"] = alphaK == alphaK.rounded() && abs(alphaK) < 1e9 ? Int(alphaK) as Any : Double(alphaK) as Any
            cfg = try? JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        }
        return (AdapterFactors(rank: k, alpha: alphaK, useRSLoRA: useRSLoRA, matrices: out, configJSON: cfg), losses)
    }

    /// Writes the factors as a PEFT adapter folder (`adapter_config.json`, F32 `adapter_model.safetensors`
    /// with PEFT key names; B rows written in the order held). The config is `configJSON` when present
    /// (its `r` and `lora_alpha` must match), otherwise a minimal one naming `baseModelName`. Atomic like
    /// `LoRAParameters.savePEFT`.
    public func savePEFT(to dir: String, baseModelName: String = "") throws {
        let writer = SafetensorsWriter()
        writer.metadata = ["format": "pt"]
        for m in matrices {
            try wrapFormat {
                try writer.add(name: PEFTAdapter.key(layer: m.layer, target: m.target, isB: false), dtype: .f32,
                               shape: [rank, m.inFeatures], values: m.a)
                try writer.add(name: PEFTAdapter.key(layer: m.layer, target: m.target, isB: true), dtype: .f32,
                               shape: [m.outFeatures, rank], values: m.b)
            }
        }
        let json: Data
        if let c = configJSON { json = c } else {
            let targets = Array(Set(matrices.map(\.target))).sorted()
            let layers = Set(matrices.map(\.layer))
            let maxLayer = layers.max() ?? 0
            var p = LoRAParameters.configText(rank: rank, alpha: alpha, useRSLoRA: useRSLoRA, targets: targets, baseModelName: baseModelName)
            if layers.count != maxLayer + 1 {
                p = p.replacingOccurrences(of: "\"layers_to_transform\": null",
                                           with: "\"layers_to_transform\": [" + layers.sorted().map(String.init).joined(separator: ", ") + "]")
            }
            json = Data(p.utf8)
        }
        try PEFTDirectoryWriter.write(dir: dir) { folder, prefix in
            try wrapFormat { try writer.write(to: folder + "/" + prefix + PEFTAdapter.weightsFileName) }
            try wrapFormat {
                try AtomicFileWriter.write(path: folder + "/" + prefix + PEFTAdapter.configFileName) { emit in
                    try json.withUnsafeBytes { try emit($0) }
                }
            }
        }
    }
}

extension LoRAParameters {
    /// `adapter_config.json` text for a plain LoRA adapter (same fields as `peftConfigJSON`).
    static func configText(rank: Int, alpha: Float, useRSLoRA: Bool, targets: [LoRATarget], baseModelName: String) -> String {
        let fields: [(String, String)] = [
            ("base_model_name_or_path", JSONText.string(baseModelName)), ("bias", "\"none\""), ("fan_in_fan_out", "false"),
            ("inference_mode", "true"), ("layers_to_transform", "null"), ("lora_alpha", JSONText.number(alpha)),
            ("lora_dropout", "0"), ("modules_to_save", "null"), ("peft_type", "\"LORA\""), ("r", String(rank)),
            ("target_modules", "[" + targets.map { JSONText.string($0.rawValue) }.joined(separator: ", ") + "]"),
            ("task_type", "\"CAUSAL_LM\""), ("use_dora", "false"), ("use_rslora", useRSLoRA ? "true" : "false"),
        ]
        return "{\n" + fields.map { "  \(JSONText.string($0.0)): \($0.1)" }.joined(separator: ",\n") + "\n}\n"
    }
}
