import Foundation

/// File names and tensor keys of the Hugging Face PEFT adapter format
/// (`adapter_config.json` + `adapter_model.safetensors`).
public enum PEFTAdapter {
    public static let configFileName = "adapter_config.json"
    public static let weightsFileName = "adapter_model.safetensors"
    /// Safetensors metadata key holding LoRAKit's initialization seed (ignored by PEFT).
    static let seedMetadataKey = "lorakit.seed"
    /// Safetensors metadata key of a quant-aware adapter: its group width ("32"; absent for plain LoRA). Kept out of
    /// adapter_config.json, whose unknown keys PEFT warns about (older versions refuse them).
    static let quantAwareMetadataKey = "lorakit.quant_aware_group"
    /// Safetensors metadata key of a grid-exact quant-aware adapter ("1"): its change is on the Q4_K/Q5_K min grid of
    /// the base it was trained on, and the in-place merge writes it without a refit (`QuantGridLoRA`).
    static let quantGridMetadataKey = "lorakit.quant_grid"

    /// The key PEFT's `save_pretrained` gives a factor, e.g.
    /// `base_model.model.model.layers.3.self_attn.q_proj.lora_B.weight`.
    public static func key(layer: Int, target: LoRATarget, isB: Bool) -> String {
        "base_model.model.model.layers.\(layer).\(target.peftPath).lora_\(isB ? "B" : "A").weight"
    }

    /// The key PEFT's `save_pretrained` gives a DoRA magnitude, e.g.
    /// `base_model.model.model.layers.3.self_attn.q_proj.lora_magnitude_vector`.
    public static func magnitudeKey(layer: Int, target: LoRATarget) -> String {
        "base_model.model.model.layers.\(layer).\(target.peftPath).lora_magnitude_vector"
    }

    /// A factor named by a tensor key.
    struct FactorKey: Hashable {
        var layer: Int
        var target: LoRATarget
        var isB: Bool
    }

    /// A DoRA magnitude named by a tensor key.
    struct MagnitudeKey: Hashable {
        var layer: Int
        var target: LoRATarget
    }

    enum KeyParse { case factor(FactorKey), magnitude(MagnitudeKey), invalid(String) }

    /// Parses a PEFT key: optional `base_model.model.` and `model.` prefixes, then
    /// `layers.L.{self_attn|mlp}.NAME.lora_{A|B}[.default].weight`. Returns the reason on failure.
    static func parseKey(_ key: String) -> KeyParse {
        var parts = key.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if parts.starts(with: ["base_model", "model"]) { parts.removeFirst(2) }
        if parts.first == "model" { parts.removeFirst() }
        guard parts.count >= 2, parts[0] == "layers", let layer = Int(parts[1]), layer >= 0 else {
            return .invalid("not a LoRA factor of a decoder layer (expected base_model.model.model.layers.N.…)")
        }
        if parts.count >= 6, parts[5] == "default" { parts.remove(at: 5) }
        // DoRA's magnitude: `…lora_magnitude_vector` (PEFT ≥ 0.12 saves it without `.weight`).
        let isMagnitude = parts.count >= 5 && parts[4] == "lora_magnitude_vector" && (parts.count == 5 || parts[5...] == ["weight"])
        guard isMagnitude || (parts.count == 6 && parts[5] == "weight" && (parts[4] == "lora_A" || parts[4] == "lora_B")) else {
            return .invalid("not a lora_A/lora_B weight or DoRA magnitude (LoRAKit reads LoRA and DoRA: no biases, embeddings or saved modules)")
        }
        guard let target = LoRATarget(rawValue: parts[3]), target.peftPath == parts[2] + "." + parts[3] else {
            return .invalid("unknown module '\(parts[2]).\(parts[3])'; known: "
                + LoRATarget.allCases.map(\.peftPath).joined(separator: ", "))
        }
        if isMagnitude { return .magnitude(MagnitudeKey(layer: layer, target: target)) }
        return .factor(FactorKey(layer: layer, target: target, isB: parts[4] == "lora_B"))
    }
}

extension LoRAParameters {
    /// Saves the adapter in the PEFT format, so `PeftModel.from_pretrained(base, dir)` loads it
    /// unmodified: `adapter_config.json` and `adapter_model.safetensors` (F32, PEFT key names,
    /// A [r, in], B [out, r] with q_proj/k_proj rows back in Hugging Face order).
    ///
    /// The write is atomic: a new folder is built beside `dir` and renamed into place; when `dir`
    /// exists, both files are written completely under temporary names inside it before either
    /// replaces the old adapter's file (other files in `dir` are left alone).
    public func savePEFT(to dir: String, model: LlamaConfig, baseModelName: String) throws {
        try checkLayout(model: model, path: dir)
        let writer = SafetensorsWriter()
        writer.metadata = ["format": "pt", PEFTAdapter.seedMetadataKey: String(config.seed)]
        if config.quantAware { writer.metadata[PEFTAdapter.quantAwareMetadataKey] = String(QuantAwareLoRA.groupSize) }
        if config.quantGrid { writer.metadata[PEFTAdapter.quantGridMetadataKey] = "1" }
        let r = config.rank
        // Each tensor is cut out (and q/k rows permuted) only while the file is written: saving holds
        // one tensor beyond the factors, not a second copy of the adapter.
        for s in slots {
            let heads = QKPermutation.heads(for: s.target, model: model)
            try wrapFormat {
                try writer.add(name: PEFTAdapter.key(layer: s.layer, target: s.target, isB: false), dtype: .f32,
                               shape: [r, s.inFeatures]) { Array(self.values[s.aOffset ..< s.aOffset + r * s.inFeatures]) }
                try writer.add(name: PEFTAdapter.key(layer: s.layer, target: s.target, isB: true), dtype: .f32,
                               shape: [s.outFeatures, r]) {
                    let b = Array(self.values[s.bOffset ..< s.bOffset + s.outFeatures * r])
                    guard let heads else { return b }
                    return try QKPermutation.ggufToHF(b, rows: s.outFeatures, cols: r, heads: heads)
                }
                if let mo = s.magnitudeOffset {
                    try writer.add(name: PEFTAdapter.magnitudeKey(layer: s.layer, target: s.target), dtype: .f32,
                                   shape: [s.outFeatures]) {
                        let m = Array(self.values[mo ..< mo + s.outFeatures])
                        guard let heads else { return m }
                        return try QKPermutation.ggufToHF(m, rows: s.outFeatures, cols: 1, heads: heads)
                    }
                }
            }
        }
        let json = Array(peftConfigJSON(baseModelName: baseModelName).utf8)
        try PEFTDirectoryWriter.write(dir: dir) { folder, prefix in
            try wrapFormat { try writer.write(to: folder + "/" + prefix + PEFTAdapter.weightsFileName) }
            try wrapFormat {
                try AtomicFileWriter.write(path: folder + "/" + prefix + PEFTAdapter.configFileName) { emit in
                    try json.withUnsafeBytes { try emit($0) }
                }
            }
        }
    }

    /// The `adapter_config.json` text PEFT expects for this adapter (keys sorted, 2-space indent).
    public func peftConfigJSON(baseModelName: String) -> String {
        let fields: [(String, String)] = [
            ("alpha_pattern", "{}"),
            ("base_model_name_or_path", JSONText.string(baseModelName)),
            ("bias", "\"none\""),
            ("fan_in_fan_out", "false"),
            ("inference_mode", "true"),
            ("init_lora_weights", "true"),
            ("layers_pattern", "null"),
            ("layers_to_transform", "null"),
            ("lora_alpha", JSONText.number(config.alpha)),
            ("lora_dropout", JSONText.number(config.dropout)),
            ("modules_to_save", "null"),
            ("peft_type", "\"LORA\""),
            ("r", String(config.rank)),
            ("rank_pattern", "{}"),
            ("revision", "null"),
            ("target_modules", "[" + config.targets.map(\.rawValue).sorted().map { JSONText.string($0) }.joined(separator: ", ") + "]"),
            ("task_type", "\"CAUSAL_LM\""),
            ("use_dora", config.useDoRA ? "true" : "false"),
            ("use_rslora", config.useRSLoRA ? "true" : "false"),
        ]
        return "{\n" + fields.map { "  \(JSONText.string($0.0)): \($0.1)" }.joined(separator: ",\n") + "\n}\n"
    }

    /// Checks that the slots are the full layout of `config` for `model` (as `init(config:model:)` makes it).
    func checkLayout(model: LlamaConfig, path: String) throws {
        guard slots.count == model.blockCount * config.targets.count else {
            throw AdapterError.unsupported(path: path, message: "the adapter has \(slots.count) adapted matrices; a model of "
                + "\(model.blockCount) layers with \(config.targets.count) targets needs \(model.blockCount * config.targets.count)")
        }
        for s in slots {
            let (o, i) = s.target.shape(model)
            guard s.outFeatures == o, s.inFeatures == i, s.layer < model.blockCount else {
                throw AdapterError.wrongBase(path: path, key: PEFTAdapter.key(layer: s.layer, target: s.target, isB: true),
                                             expected: [o, i], actual: [s.outFeatures, s.inFeatures])
            }
        }
        let need = slots.map { s in s.magnitudeOffset.map { $0 + s.outFeatures } ?? s.bOffset + s.outFeatures * config.rank }.max() ?? 0
        guard values.count >= need else {
            throw AdapterError.unsupported(path: path, message: "the parameter vector holds \(values.count) values, the layout needs \(need)")
        }
    }
}

/// Maps errors of the format readers/writers into `AdapterError.format`.
func wrapFormat<R>(_ body: () throws -> R) throws -> R {
    do { return try body() } catch let e as FormatError { throw AdapterError.format(e) }
}

/// Minimal JSON text output (deterministic, so saved configs are byte-stable).
enum JSONText {
    static func string(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }

    /// An integral value prints as an integer (as Python writes `lora_alpha=16`), others in the
    /// shortest form that reads back to the same Float.
    static func number(_ f: Float) -> String {
        guard f.isFinite else { return "null" }
        if f == f.rounded(), abs(f) < 1e15 { return String(Int64(f)) }
        return "\(f)"
    }
}

/// Atomic placement of a PEFT adapter folder's files.
enum PEFTDirectoryWriter {
    /// Calls `body(folder, prefix)` to write the adapter files as `folder/prefix+name`, then moves
    /// them into `dir`. A missing `dir` is built as a sibling temporary folder and renamed into
    /// place; an existing one gets temporary files that are renamed over the old ones only after
    /// `body` finished. Nothing is left behind on failure.
    static func write(dir: String, _ body: (_ folder: String, _ prefix: String) throws -> Void) throws {
        let fm = FileManager.default
        let tag = "\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let names = [PEFTAdapter.weightsFileName, PEFTAdapter.configFileName]
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: dir, isDirectory: &isDir) {
            guard isDir.boolValue else { throw AdapterError.io(path: dir, message: "exists and is not a folder") }
            let prefix = ".lorakit-new-\(tag)-"
            do {
                try body(dir, prefix)
                for n in names {
                    guard rename(dir + "/" + prefix + n, dir + "/" + n) == 0 else {
                        throw AdapterError.io(path: dir + "/" + n, message: "cannot rename the new file into place: \(MappedFile.errnoText())")
                    }
                }
            } catch {
                for n in names { try? fm.removeItem(atPath: dir + "/" + prefix + n) }
                throw error
            }
            return
        }
        let trimmed = dir.hasSuffix("/") ? String(dir.dropLast()) : dir
        let parentRaw = (trimmed as NSString).deletingLastPathComponent
        let parent = parentRaw.isEmpty ? "." : parentRaw
        let tmp = parent + "/." + (trimmed as NSString).lastPathComponent + ".tmp-" + tag
        do {
            try fm.createDirectory(atPath: parent, withIntermediateDirectories: true)
            try fm.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        } catch {
            throw AdapterError.io(path: dir, message: "cannot create the folder: \(error.localizedDescription)")
        }
        do {
            try body(tmp, "")
            guard rename(tmp, trimmed) == 0 else {
                throw AdapterError.io(path: dir, message: "cannot rename the new folder into place: \(MappedFile.errnoText())")
            }
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
    }
}
