import Foundation

extension LoRAParameters {
    /// Loads a PEFT LoRA adapter folder (`adapter_config.json` + `adapter_model.safetensors`), as
    /// written by `savePEFT` or by Python PEFT's `save_pretrained` for the same base model.
    ///
    /// Keys may carry PEFT's `base_model.model.` prefix and an adapter name `.default`; tensors may be
    /// F32, F16 or BF16. B of q_proj/k_proj is permuted from Hugging Face to GGUF row order. Every
    /// tensor is checked against `r` and `model`'s shapes; an adapter for another base (other
    /// widths or layer count) is refused with an error saying so. Layers excluded by PEFT's
    /// `layers_to_transform` get zero factors (which leave the layer unchanged).
    public static func loadPEFT(from dir: String, model: LlamaConfig) throws -> LoRAParameters {
        let configPath = dir + "/" + PEFTAdapter.configFileName
        let weightsPath = dir + "/" + PEFTAdapter.weightsFileName
        let fm = FileManager.default
        guard fm.fileExists(atPath: configPath) else {
            throw AdapterError.io(path: dir, message: "no \(PEFTAdapter.configFileName): not a PEFT adapter folder")
        }
        guard fm.fileExists(atPath: weightsPath) else {
            let hasBin = fm.fileExists(atPath: dir + "/adapter_model.bin")
            throw AdapterError.io(path: dir, message: "no \(PEFTAdapter.weightsFileName)"
                + (hasBin ? " (adapter_model.bin is a pickle and is not read: re-save it with safe_serialization=True)" : ""))
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: configPath)) } catch {
            throw AdapterError.io(path: configPath, message: "cannot read: \(error.localizedDescription)")
        }
        let parsed = try PEFTConfigFile.parse(data, path: configPath)
        let file = try wrapFormat { try SafetensorsFile(path: weightsPath) }

        // Map every tensor key to a factor; refuse anything else.
        var found: [PEFTAdapter.FactorKey: String] = [:]
        var magnitudes: [PEFTAdapter.MagnitudeKey: String] = [:]
        for t in file.tensors {
            switch PEFTAdapter.parseKey(t.name) {
            case .invalid(let why): throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name, message: why)
            case .magnitude(let k):
                guard parsed.useDoRA else {
                    throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name, message: "a DoRA magnitude, but use_dora is not true")
                }
                guard magnitudes[k] == nil else {
                    throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name, message: "names the same magnitude twice")
                }
                magnitudes[k] = t.name
            case .factor(let k):
                if let other = found[k] {
                    throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name, message: "names the same factor as '\(other)'")
                }
                guard k.layer < model.blockCount else {
                    throw AdapterError.layerOutOfRange(path: weightsPath, key: t.name, layer: k.layer, layerCount: model.blockCount)
                }
                if let listed = parsed.targets, !listed.contains(k.target) {
                    throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name,
                                                        message: "module \(k.target.rawValue) is not in target_modules \(listed.map(\.rawValue))")
                }
                if let layers = parsed.layers, !layers.contains(k.layer) {
                    throw AdapterError.unexpectedTensor(path: weightsPath, key: t.name,
                                                        message: "layer \(k.layer) is not in layers_to_transform \(layers.sorted())")
                }
                found[k] = t.name
            }
        }
        let targets = parsed.targets ?? Array(Set(found.keys.map(\.target))).sorted()
        guard !targets.isEmpty else {
            throw AdapterError.invalidConfig(path: configPath, field: "target_modules", message: "the adapter adapts no module")
        }
        var config = LoRAConfig(rank: parsed.rank, alpha: parsed.alpha, dropout: parsed.dropout, useRSLoRA: parsed.useRSLoRA,
                                targets: targets, seed: file.metadata[PEFTAdapter.seedMetadataKey].flatMap { UInt64($0) } ?? 0)
        if let g = file.metadata[PEFTAdapter.quantAwareMetadataKey] {
            guard g == String(QuantAwareLoRA.groupSize) else {
                throw AdapterError.unsupported(path: weightsPath, message: "quant-aware group width \(g) (only \(QuantAwareLoRA.groupSize) is known)")
            }
            config.quantAware = true
            config.quantGrid = file.metadata[PEFTAdapter.quantGridMetadataKey] == "1"
        }
        if parsed.useDoRA {
            // PEFT trains DoRA with dropout too; LoRAKit evaluates and continues it without (dropout is inactive in
            // evaluation, so the adapter's outputs are the same).
            config.useDoRA = true
            config.dropout = 0
        }
        var params: LoRAParameters
        do { params = try LoRAParameters(config: config, model: model) } catch let e as LoRAConfigError {
            throw AdapterError.invalidConfig(path: configPath, field: "r/lora_alpha/lora_dropout", message: e.description)
        }

        // A whole block of top layers absent means the adapter is for a shallower model.
        if parsed.layers == nil, let top = found.keys.map(\.layer).max(), top + 1 < model.blockCount {
            throw AdapterError.layerCountMismatch(path: weightsPath, adapterLayers: top + 1, modelLayers: model.blockCount)
        }

        let r = config.rank
        for s in params.slots {
            if let layers = parsed.layers, !layers.contains(s.layer) {
                if s.magnitudeOffset != nil {
                    throw AdapterError.unsupported(path: configPath, message: "layers_to_transform with DoRA (use_dora: true)")
                }
                for j in 0 ..< r * s.inFeatures { params.values[s.aOffset + j] = 0 }
                for j in 0 ..< r * s.outFeatures { params.values[s.bOffset + j] = 0 }
                continue
            }
            if let mo = s.magnitudeOffset {
                let key = PEFTAdapter.magnitudeKey(layer: s.layer, target: s.target)
                guard let name = magnitudes[PEFTAdapter.MagnitudeKey(layer: s.layer, target: s.target)] else {
                    throw AdapterError.missingTensor(path: weightsPath, key: key)
                }
                guard let info = file.tensorInfo(named: name), info.dtype.ggmlType != nil else {
                    throw AdapterError.unsupportedDType(path: weightsPath, key: name, dtype: file.tensorInfo(named: name)?.dtype.rawValue ?? "?")
                }
                guard info.shape == [s.outFeatures] else {
                    throw AdapterError.wrongBase(path: weightsPath, key: name, expected: [s.outFeatures], actual: info.shape)
                }
                var m = try wrapFormat { try file.floats(named: name) }
                if let heads = QKPermutation.heads(for: s.target, model: model) {
                    m = try QKPermutation.hfToGGUF(m, rows: s.outFeatures, cols: 1, heads: heads)
                }
                guard m.allSatisfy({ $0.isFinite }) else {
                    throw AdapterError.unexpectedTensor(path: weightsPath, key: name, message: "holds a value that is not finite")
                }
                params.values.replaceSubrange(mo ..< mo + s.outFeatures, with: m)
            }
            for isB in [false, true] {
                let k = PEFTAdapter.FactorKey(layer: s.layer, target: s.target, isB: isB)
                guard let name = found[k] else {
                    throw AdapterError.missingTensor(path: weightsPath, key: PEFTAdapter.key(layer: s.layer, target: s.target, isB: isB))
                }
                let expected = isB ? [s.outFeatures, r] : [r, s.inFeatures]
                var v = try factor(file, name: name, expected: expected, rank: r, isB: isB, path: weightsPath)
                if isB, let heads = QKPermutation.heads(for: s.target, model: model) {
                    v = try QKPermutation.hfToGGUF(v, rows: s.outFeatures, cols: r, heads: heads)
                }
                let off = isB ? s.bOffset : s.aOffset
                params.values.withUnsafeMutableBufferPointer { dst in
                    for j in 0 ..< v.count { dst[off + j] = v[j] }
                }
            }
        }
        if config.quantAware, QuantAwareLoRA.maxGroupDeviation(params) != 0 {
            throw AdapterError.unsupported(path: weightsPath, message: "the adapter is marked quant-aware but its lora_A is not constant "
                + "over \(QuantAwareLoRA.groupSize)-column groups (edited after training?)")
        }
        return params
    }

    /// Reads one factor as floats after checking its dtype and shape.
    private static func factor(_ file: SafetensorsFile, name: String, expected: [Int], rank: Int, isB: Bool,
                               path: String) throws -> [Float] {
        guard let info = file.tensorInfo(named: name) else { throw AdapterError.missingTensor(path: path, key: name) }
        guard info.dtype.ggmlType != nil else {
            throw AdapterError.unsupportedDType(path: path, key: name, dtype: info.dtype.rawValue)
        }
        if info.shape != expected {
            let rankDim = isB ? 1 : 0
            if info.shape.count != 2 || info.shape[rankDim] != rank {
                throw AdapterError.rankMismatch(path: path, key: name, expectedRank: rank, shape: info.shape)
            }
            throw AdapterError.wrongBase(path: path, key: name, expected: expected, actual: info.shape)
        }
        return try wrapFormat { try file.floats(named: name) }
    }
}

/// The fields of `adapter_config.json` LoRAKit uses, after validation.
struct PEFTConfigFile {
    var rank: Int
    var alpha: Float
    var dropout: Float
    var useRSLoRA: Bool
    var useDoRA: Bool
    /// nil when `target_modules` is a regular expression: targets then come from the tensor keys.
    var targets: [LoRATarget]?
    /// `layers_to_transform`, nil for all layers.
    var layers: Set<Int>?

    static func parse(_ data: Data, path: String) throws -> PEFTConfigFile {
        guard let top = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw AdapterError.invalidConfig(path: path, field: "(file)", message: "not a JSON object")
        }
        func bad(_ f: String, _ m: String) -> AdapterError { .invalidConfig(path: path, field: f, message: m) }
        func present(_ k: String) -> Any? {
            guard let v = top[k], !(v is NSNull) else { return nil }
            return v
        }
        func number(_ k: String, default d: Double?) throws -> Double {
            guard let v = present(k) else {
                if let d { return d }
                throw bad(k, "missing")
            }
            guard let n = v as? NSNumber else { throw bad(k, "\(v) is not a number") }
            return n.doubleValue
        }
        func flag(_ k: String) throws -> Bool {
            guard let v = present(k) else { return false }
            guard let b = v as? Bool else { throw bad(k, "\(v) is not true/false") }
            return b
        }
        func isEmpty(_ k: String) -> Bool {
            guard let v = present(k) else { return true }
            if let d = v as? [String: Any] { return d.isEmpty }
            if let a = v as? [Any] { return a.isEmpty }
            return false
        }
        func unsupported(_ m: String) -> AdapterError { .unsupported(path: path, message: m) }

        if let t = present("peft_type") as? String, t != "LORA" { throw unsupported("peft_type is \(t); LoRAKit reads LORA adapters") }
        let rD = try number("r", default: nil)
        guard rD == rD.rounded(), rD >= 1, rD < 1e6 else { throw bad("r", "\(rD) is not a positive integer") }
        let alpha = try number("lora_alpha", default: 8)
        guard alpha.isFinite, alpha > 0 else { throw bad("lora_alpha", "\(alpha) is not a positive number") }
        let dropout = try number("lora_dropout", default: 0)
        guard dropout >= 0, dropout < 1 else { throw bad("lora_dropout", "\(dropout) is not in [0, 1)") }
        if let b = present("bias") as? String, b != "none" { throw unsupported("bias '\(b)' (only bias \"none\" is supported)") }
        if try flag("fan_in_fan_out") { throw unsupported("fan_in_fan_out: true (Llama linear layers store [out, in])") }
        if try flag("lora_bias") { throw unsupported("lora_bias: true") }
        for k in ["rank_pattern", "alpha_pattern"] where !isEmpty(k) { throw unsupported("\(k) (per-module ranks/alphas)") }
        for k in ["modules_to_save", "layer_replication", "target_parameters", "trainable_token_indices"] where !isEmpty(k) {
            throw unsupported("\(k) is set")
        }

        var targets: [LoRATarget]?
        switch present("target_modules") {
        case let list as [Any]:
            var names: [String] = []
            for item in list {
                guard let s = item as? String else { throw bad("target_modules", "\(item) is not a string") }
                names.append(s)
            }
            do { targets = try LoRAConfig.parseTargets(names) } catch let e as LoRAConfigError {
                throw bad("target_modules", e.description)
            }
        case let s as String:
            targets = (s == "all-linear" || LoRATarget(rawValue: s) != nil) ? try? LoRAConfig.parseTargets([s]) : nil
        case nil:
            targets = nil
        case let v?:
            throw bad("target_modules", "\(v) is neither a list of module names nor a string")
        }

        var layers: Set<Int>?
        switch present("layers_to_transform") {
        case nil: layers = nil
        case let n as NSNumber: layers = [n.intValue]
        case let list as [Any]:
            layers = Set(try list.map { item -> Int in
                guard let n = item as? NSNumber, n.doubleValue == n.doubleValue.rounded(), n.intValue >= 0 else {
                    throw bad("layers_to_transform", "\(item) is not a layer index")
                }
                return n.intValue
            })
        case let v?: throw bad("layers_to_transform", "\(v) is neither an integer nor a list of integers")
        }
        return PEFTConfigFile(rank: Int(rD), alpha: Float(alpha), dropout: Float(dropout),
                              useRSLoRA: try flag("use_rslora"), useDoRA: try flag("use_dora"), targets: targets, layers: layers)
    }
}
