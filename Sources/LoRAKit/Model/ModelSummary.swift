import Foundation

/// What `lorakit inspect` shows about a model file, read without loading the weights.
public struct ModelSummary: Codable, Sendable {
    public var path: String
    public var format: ModelFormat
    /// Bytes on disk (all files of an HF folder's weights).
    public var fileSize: Int
    public var config: LlamaConfig
    public var tensorCount: Int
    /// Tensor count per element type name (`Q4_1`, `F32`, `BF16`, …).
    public var tensorsByType: [String: Int]
    /// Data bytes per element type name.
    public var bytesByType: [String: Int]
    /// Total elements over all tensors.
    public var parameterCount: Int
    /// `tokenizer.ggml.model` (e.g. `gpt2`) or the HF `tokenizer.json` model type (e.g. `BPE`).
    public var tokenizerModel: String?
    /// `tokenizer.ggml.pre` (e.g. `smollm`).
    public var tokenizerPre: String?
    public var hasChatTemplate: Bool
    /// GGUF `general.name`, if present.
    public var name: String?
    /// Bits per weight of each GGUF block type present (`Q4_K`: 4.5, …; float dtypes of HF folders too).
    public var bitsPerWeightByType: [String: Double] = [:]
    /// Where the tensor data would end when the file holds less (a header-only GGUF: the weights are absent).
    public var dataEnd: Int?

    /// Reads the summary of a `.gguf` file or HF folder.
    public static func inspect(path: String) throws -> ModelSummary {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError.io(path: path, message: "no such file or folder")
        }
        return isDir.boolValue ? try inspectHF(path) : try inspectGGUF(path)
    }

    static func inspectGGUF(_ path: String) throws -> ModelSummary {
        let f = try GGUFFile(path: path, headerOnly: true)
        var count: [String: Int] = [:], bytes: [String: Int] = [:]
        var params = 0
        for t in f.tensors {
            count[t.type.description, default: 0] += 1
            bytes[t.type.description, default: 0] += t.byteCount
            params += t.elementCount
        }
        var s = ModelSummary(
            path: path, format: .gguf, fileSize: f.fileSize, config: try LlamaConfig(gguf: f), tensorCount: f.tensors.count,
            tensorsByType: count, bytesByType: bytes, parameterCount: params,
            tokenizerModel: f.metadata["tokenizer.ggml.model"]?.string, tokenizerPre: f.metadata["tokenizer.ggml.pre"]?.string,
            hasChatTemplate: f.metadata["tokenizer.chat_template"]?.string != nil, name: f.metadata["general.name"]?.string)
        for t in Set(f.tensors.map(\.type)) { s.bitsPerWeightByType[t.description] = t.bitsPerWeight }
        s.dataEnd = f.dataEnd
        return s
    }

    static func inspectHF(_ dir: String) throws -> ModelSummary {
        let config = try HFConfig.load(path: dir + "/config.json")
        let st = try SafetensorsModel(directory: dir)
        var count: [String: Int] = [:], bytes: [String: Int] = [:]
        var params = 0
        for name in st.tensorNames {
            guard let (_, t) = st.locate(name) else { continue }
            count[t.dtype.rawValue, default: 0] += 1
            bytes[t.dtype.rawValue, default: 0] += t.byteCount
            params += t.elementCount
        }
        func json(_ file: String) -> [String: Any]? {
            guard let d = FileManager.default.contents(atPath: dir + "/" + file) else { return nil }
            return (try? JSONSerialization.jsonObject(with: d)) as? [String: Any]
        }
        let tokModel = (json("tokenizer.json")?["model"] as? [String: Any])?["type"] as? String
        let template = json("tokenizer_config.json")?["chat_template"] != nil
            || FileManager.default.fileExists(atPath: dir + "/chat_template.jinja")
        var cfg = config
        cfg.tiedEmbeddings = st.locate("lm_head.weight") == nil
        return ModelSummary(
            path: dir, format: .huggingFace, fileSize: st.files.reduce(0) { $0 + $1.storage.count }, config: cfg,
            tensorCount: count.values.reduce(0, +), tensorsByType: count, bytesByType: bytes, parameterCount: params,
            tokenizerModel: tokModel, tokenizerPre: nil, hasChatTemplate: template, name: nil)
    }
}
