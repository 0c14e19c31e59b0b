import Foundation

/// The frozen weights of one transformer block, every matrix in GGUF row order
/// (q and k rows interleaved per head for RoPE on adjacent pairs).
public struct LayerWeights: @unchecked Sendable {
    /// RMSNorm weight before attention. [dim]
    public let attnNorm: [Float]
    /// RMSNorm weight before the feed-forward block. [dim]
    public let ffnNorm: [Float]
    /// [Hq·hd, dim]
    public let q: QuantizedMatrix
    /// [kvDim, dim]
    public let k: QuantizedMatrix
    /// [kvDim, dim]
    public let v: QuantizedMatrix
    /// [dim, Hq·hd]
    public let o: QuantizedMatrix
    /// [ffn, dim]
    public let gate: QuantizedMatrix
    /// [ffn, dim]
    public let up: QuantizedMatrix
    /// [dim, ffn]
    public let down: QuantizedMatrix
    /// Frozen q/k/v biases (Qwen2; nil otherwise). [Hq·hd], [kvDim], [kvDim]
    public let qBias: [Float]?, kBias: [Float]?, vBias: [Float]?
    /// Per-head RMSNorm weights of q and k (Qwen3, Gemma 3; nil otherwise). [hd]
    public let qNorm: [Float]?, kNorm: [Float]?
    /// RMSNorm weights after attention and after the FFN (Gemma 3; nil otherwise). [dim]
    public let postAttentionNorm: [Float]?, postFFNNorm: [Float]?

    public init(attnNorm: [Float], ffnNorm: [Float], q: QuantizedMatrix, k: QuantizedMatrix, v: QuantizedMatrix,
                o: QuantizedMatrix, gate: QuantizedMatrix, up: QuantizedMatrix, down: QuantizedMatrix,
                qBias: [Float]? = nil, kBias: [Float]? = nil, vBias: [Float]? = nil,
                qNorm: [Float]? = nil, kNorm: [Float]? = nil,
                postAttentionNorm: [Float]? = nil, postFFNNorm: [Float]? = nil) {
        self.qBias = qBias
        self.kBias = kBias
        self.vBias = vBias
        self.qNorm = qNorm
        self.kNorm = kNorm
        self.postAttentionNorm = postAttentionNorm
        self.postFFNNorm = postFFNNorm
        self.attnNorm = attnNorm
        self.ffnNorm = ffnNorm
        self.q = q
        self.k = k
        self.v = v
        self.o = o
        self.gate = gate
        self.up = up
        self.down = down
    }

    /// The seven matrices with their GGUF short names (`attn_q`, …, `ffn_down`).
    public var matrices: [(name: String, matrix: QuantizedMatrix)] {
        [("attn_q", q), ("attn_k", k), ("attn_v", v), ("attn_output", o),
         ("ffn_gate", gate), ("ffn_up", up), ("ffn_down", down)]
    }
}

/// Which kind of file the weights came from.
public enum ModelFormat: String, Sendable, Codable {
    case gguf
    /// A Hugging Face folder: `config.json` + safetensors.
    case huggingFace = "hf"
}

/// Where loaded weights came from.
public struct ModelSource: Sendable {
    /// The .gguf file or HF folder.
    public let path: String
    public let format: ModelFormat
    /// Block type HF weights were quantized to at load (nil for GGUF, whose types are kept).
    public let quantizedTo: GGMLType?
}

/// A Llama-family model's frozen weights, whichever file they came from. Immutable after
/// `load`; matrices view the mapped file where possible (GGUF compute types) and own their
/// bytes otherwise (K-quants converted to Q8_0, HF weights quantized at load).
public final class ModelWeights: @unchecked Sendable {
    public let config: LlamaConfig
    /// [vocab, dim]
    public let tokenEmbedding: QuantizedMatrix
    /// [dim]
    public let outputNorm: [Float]
    /// LM head [vocab, dim]; nil when tied to `tokenEmbedding`.
    public let output: QuantizedMatrix?
    /// Llama 3.1 per-frequency RoPE factors (GGUF `rope_freqs.weight`). [headDim / 2]
    public let ropeFreqFactors: [Float]?
    public let layers: [LayerWeights]
    public let source: ModelSource
    /// The GGUF file (metadata, tokenizer) when loaded from GGUF.
    public let gguf: GGUFFile?

    init(config: LlamaConfig, tokenEmbedding: QuantizedMatrix, outputNorm: [Float], output: QuantizedMatrix?,
         ropeFreqFactors: [Float]?, layers: [LayerWeights], source: ModelSource, gguf: GGUFFile?) {
        self.config = config
        self.tokenEmbedding = tokenEmbedding
        self.outputNorm = outputNorm
        self.output = output
        self.ropeFreqFactors = ropeFreqFactors
        self.layers = layers
        self.source = source
        self.gguf = gguf
    }

    /// The LM head: `output`, or the token embedding when tied.
    public var lmHead: QuantizedMatrix { output ?? tokenEmbedding }

    /// GGUF metadata (empty for HF folders).
    public var metadata: [String: GGUFValue] { gguf?.metadata ?? [:] }

    /// Loads a `.gguf` file or a Hugging Face folder (`config.json` + safetensors).
    /// HF weights are quantized to `quantizeTo` (any of `loadQuantizationTypes`; K-quants fall back per
    /// `GGMLType.storable(cols:)` for rows that are not multiples of 256); GGUF tensors keep their type.
    public static func load(path: String, quantizeTo: GGMLType = .q8_0) throws -> ModelWeights {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FormatError.io(path: path, message: "no such file or folder")
        }
        if isDir.boolValue { return try loadHF(directory: path, quantizeTo: quantizeTo) }
        return try loadGGUF(GGUFFile(path: path))
    }

    /// Checks a matrix has [rows, cols] = expected.
    static func check(_ m: QuantizedMatrix, _ name: String, rows: Int, cols: Int, path: String) throws {
        guard m.rows == rows, m.cols == cols else {
            throw FormatError.shapeMismatch(path: path, tensor: name, expected: [rows, cols], actual: [m.rows, m.cols])
        }
    }
}
