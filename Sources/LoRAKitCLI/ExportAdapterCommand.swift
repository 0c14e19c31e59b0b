import ArgumentParser
import Foundation
import LoRAKit

struct ExportAdapterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-adapter",
        abstract: "Convert a PEFT LoRA adapter folder into a llama.cpp LoRA GGUF (for llama-cli/llama-server --lora).")

    @Option(help: "PEFT adapter folder (adapter_config.json + adapter_model.safetensors).") var adapter: String
    @Option(help: "Output .gguf file.") var out: String
    @Option(help: "The base model (.gguf file or Hugging Face folder); default: the adapter's base_model_name_or_path when it is a local path.")
    var model: String?
    @Option(help: "Tensor type: f32 (exact), f16 or bf16.") var type: String = "f32"

    func run() throws {
        let types: [String: GGMLType] = ["f32": .f32, "f16": .f16, "bf16": .bf16]
        guard let ggmlType = types[type.lowercased()] else { throw ValidationError("--type must be f32, f16 or bf16 (got '\(type)')") }
        try OutputPath.checkDistinct(output: out, inputs: [adapter, adapter + "/adapter_model.safetensors"] + (model.map { [$0] } ?? []))
        let config = try baseConfig()
        do {
            let p = try LoRAParameters.loadPEFT(from: adapter, model: config)
            try p.exportLlamaCppGGUF(to: out, model: config, type: ggmlType)
            let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
            print("wrote \(out): \(2 * p.slots.count) \(type.uppercased()) tensors, r=\(p.config.rank), "
                + "adapter.lora.alpha=\(LlamaCppAdapter.llamaCppAlpha(p.config)) (scale \(p.config.scale)), "
                + "targets \(p.config.targets.map(\.rawValue).joined(separator: ",")), \(size) bytes")
        } catch let e as AdapterError {
            throw ValidationError(e.description)
        }
    }

    /// The base model's architecture, from `--model` or the adapter's `base_model_name_or_path`.
    private func baseConfig() throws -> LlamaConfig {
        var path = model
        if path == nil {
            let cfg = adapter + "/adapter_config.json"
            if let data = FileManager.default.contents(atPath: cfg),
               let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
               let base = obj["base_model_name_or_path"] as? String, let found = Self.localModel(base) {
                path = found
            }
        }
        guard let path else {
            throw ValidationError("pass --model with the base model (.gguf or Hugging Face folder): "
                + "the adapter's base_model_name_or_path is not a local model")
        }
        do {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw ValidationError("\(path): no such model file or folder")
            }
            if isDir.boolValue { return try HFConfig.load(path: path + "/config.json") }
            return try LlamaConfig(gguf: GGUFFile(path: path))
        } catch let e as FormatError {
            throw ValidationError(e.description)
        }
    }

    /// A local model named by `base`: a .gguf file, a folder with config.json, or a folder with one .gguf.
    static func localModel(_ base: String) -> String? {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: base, isDirectory: &isDir) else { return nil }
        if !isDir.boolValue { return base.hasSuffix(".gguf") ? base : nil }
        if fm.fileExists(atPath: base + "/config.json") { return base }
        let ggufs = ((try? fm.contentsOfDirectory(atPath: base)) ?? []).filter { $0.hasSuffix(".gguf") }
        return ggufs.count == 1 ? base + "/" + ggufs[0] : nil
    }
}
