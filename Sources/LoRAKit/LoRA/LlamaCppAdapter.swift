import Foundation

/// Names and metadata of llama.cpp's LoRA adapter GGUF (what `llama-cli --lora FILE.gguf` loads).
///
/// llama.cpp pairs `NAME.lora_a` with `NAME.lora_b` for each base tensor `NAME`, requires
/// `general.type` = "adapter", `adapter.type` = "lora" and the base's `general.architecture`,
/// checks `a.ne = [in, r]`, `b.ne = [r, out]` against the base tensor's `ne = [in, out]`, and
/// scales B·A by `adapter.lora.alpha / r` (r read from `b.ne[0]`).
public enum LlamaCppAdapter {
    /// Name of a factor's tensor, e.g. `blk.3.attn_q.weight.lora_a`.
    public static func tensorName(layer: Int, target: LoRATarget, isB: Bool) -> String {
        "blk.\(layer).\(target.ggufName).weight.lora_\(isB ? "b" : "a")"
    }

    /// The `adapter.lora.alpha` that makes llama.cpp's `alpha / r` equal `config.scale`
    /// (alpha itself, or alpha·√r for rsLoRA).
    public static func llamaCppAlpha(_ config: LoRAConfig) -> Float {
        config.useRSLoRA ? config.scale * Float(config.rank) : config.alpha
    }
}

extension LoRAParameters {
    /// Writes the adapter as a llama.cpp LoRA GGUF for a base with `model`'s shapes: tensors
    /// `blk.N.{attn_q,…,ffn_down}.weight.lora_a` (ne [in, r], the values of A [r, in]) and
    /// `….lora_b` (ne [r, out], the values of B [out, r] in GGUF row order, q/k permuted as the
    /// base's own tensors are), stored as `type` (F32, the default, is exact; F16 or BF16 round to
    /// nearest even). The file is written atomically.
    public func exportLlamaCppGGUF(to path: String, model: LlamaConfig, type: GGMLType = .f32) throws {
        try checkLayout(model: model, path: path)
        guard type == .f32 || type == .f16 || type == .bf16 else {
            throw AdapterError.unsupported(path: path, message: "adapter tensors are written as F32, F16 or BF16, not \(type)")
        }
        let w = try wrapFormat { try GGUFWriter() }
        let r = config.rank
        try wrapFormat {
            try w.set("general.architecture", .string(model.architecture.rawValue))   // llama.cpp checks it against the base
            try w.set("general.type", .string("adapter"))
            try w.set("adapter.type", .string("lora"))
            try w.set("adapter.lora.alpha", .float32(LlamaCppAdapter.llamaCppAlpha(config)))
            try w.set("general.name", .string("LoRAKit adapter"))
            for s in slots {
                try w.addTensor(name: LlamaCppAdapter.tensorName(layer: s.layer, target: s.target, isB: false),
                                dims: [s.inFeatures, r], type: type, source: floatSource(s.aOffset, r * s.inFeatures, type))
                try w.addTensor(name: LlamaCppAdapter.tensorName(layer: s.layer, target: s.target, isB: true),
                                dims: [r, s.outFeatures], type: type, source: floatSource(s.bOffset, s.outFeatures * r, type))
            }
            try w.write(to: path)
        }
    }

    /// Streams `count` values from `offset` as little-endian F32, F16 or BF16 bytes.
    private func floatSource(_ offset: Int, _ count: Int, _ type: GGMLType) -> GGUFWriter.ByteSource {
        let vals = values
        return { emit in
            switch type {
            case .f16, .bf16:
                let bits = vals[offset ..< offset + count].map {
                    (type == .f16 ? FloatConversion.floatToHalf($0) : FloatConversion.floatToBF16($0)).littleEndian
                }
                try bits.withUnsafeBytes { try emit($0) }
            default:
                #if _endian(little)
                try vals.withUnsafeBufferPointer { p in
                    try emit(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: p[offset ..< offset + count])))
                }
                #else
                let le = vals[offset ..< offset + count].map { $0.bitPattern.littleEndian }
                try le.withUnsafeBytes { try emit($0) }
                #endif
            }
        }
    }

    /// Reads a llama.cpp LoRA GGUF written for a base with `model`'s shapes (F32/F16/BF16
    /// factors). Needs every layer for the same set of targets and one rank; `alpha` is
    /// `adapter.lora.alpha` (scale alpha/r, no rsLoRA).
    public static func loadLlamaCppGGUF(from path: String, model: LlamaConfig) throws -> LoRAParameters {
        let f = try wrapFormat { try GGUFFile(path: path) }
        guard f.metadata["general.type"]?.string == "adapter", f.metadata["adapter.type"]?.string == "lora" else {
            throw AdapterError.invalidConfig(path: path, field: "general.type/adapter.type", message: "not a llama.cpp LoRA adapter")
        }
        if let arch = f.metadata["general.architecture"]?.string, arch != model.architecture.rawValue {
            throw AdapterError.unsupported(path: path, message: "general.architecture is '\(arch)', expected '\(model.architecture.rawValue)' (the model's)")
        }
        var targets = Set<LoRATarget>()
        var rank: Int?
        for t in f.tensors {
            let parts = t.name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 5, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, parts[3] == "weight",
                  parts[4] == "lora_a" || parts[4] == "lora_b",
                  let tg = LoRATarget.allCases.first(where: { $0.ggufName == parts[2] }) else {
                throw AdapterError.unexpectedTensor(path: path, key: t.name,
                                                    message: "not a LoRA factor blk.N.{attn_q,…,ffn_down}.weight.lora_{a,b}")
            }
            guard layer < model.blockCount else {
                throw AdapterError.layerOutOfRange(path: path, key: t.name, layer: layer, layerCount: model.blockCount)
            }
            targets.insert(tg)
            if parts[4] == "lora_a", t.dims.count == 2, rank == nil { rank = t.dims[1] }
        }
        guard let r = rank, !targets.isEmpty else {
            throw AdapterError.missingTensor(path: path, key: "blk.0.*.weight.lora_a")
        }
        let alpha = f.metadata["adapter.lora.alpha"]?.float.map(Float.init) ?? Float(r)
        let config = LoRAConfig(rank: r, alpha: alpha > 0 ? alpha : Float(r), targets: targets.sorted())
        var params: LoRAParameters
        do { params = try LoRAParameters(config: config, model: model) } catch let e as LoRAConfigError {
            throw AdapterError.invalidConfig(path: path, field: "rank", message: e.description)
        }
        for s in params.slots {
            for isB in [false, true] {
                let name = LlamaCppAdapter.tensorName(layer: s.layer, target: s.target, isB: isB)
                guard let info = f.tensorInfo(named: name) else { throw AdapterError.missingTensor(path: path, key: name) }
                let dims = isB ? [r, s.outFeatures] : [s.inFeatures, r]
                guard info.dims == dims else {
                    let rankDim = isB ? 0 : 1
                    if info.dims.count == 2, info.dims[rankDim] != r {
                        throw AdapterError.rankMismatch(path: path, key: name, expectedRank: r, shape: info.dims)
                    }
                    throw AdapterError.wrongBase(path: path, key: name, expected: dims, actual: info.dims)
                }
                let v = try wrapFormat { try f.floats(named: name) }
                let off = isB ? s.bOffset : s.aOffset
                params.values.withUnsafeMutableBufferPointer { dst in
                    for j in 0 ..< v.count { dst[off + j] = v[j] }
                }
            }
        }
        let expectedCount = 2 * params.slots.count
        guard f.tensors.count == expectedCount else {
            throw AdapterError.layerCountMismatch(path: path, adapterLayers: f.tensors.count / max(2 * targets.count, 1),
                                                  modelLayers: model.blockCount)
        }
        return params
    }
}
