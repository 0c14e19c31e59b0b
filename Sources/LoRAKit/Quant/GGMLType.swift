/// Tensor element types as numbered in GGUF (ggml's `ggml_type`): the types LoRAKit loads, multiplies and
/// writes, all kept in their blocks (the C kernels' type-traits table, `lk_type_traits_get`, is the source of
/// block sizes and names; `GGMLTypeTests` checks this enum against it).
public enum GGMLType: UInt32, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q4_K = 12, q5_K = 13, q6_K = 14, bf16 = 30

    /// Elements per block (1 for plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: return 32
        case .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        }
    }

    /// Bits per weight as stored (block bytes × 8 / block size), e.g. 4.5 for Q4_K, 6.5625 for Q6_K.
    public var bitsPerWeight: Double { Double(blockBytes * 8) / Double(blockSize) }

    /// True for the K-quants (256-element super-blocks: rows must be multiples of 256).
    public var isKQuant: Bool { blockSize == 256 }

    /// Bytes of a row of `n` elements, or nil when `n` is not a multiple of the block size
    /// or the size overflows.
    public func rowBytes(_ n: Int) -> Int? {
        guard n >= 0, n % blockSize == 0 else { return nil }
        let (r, o) = (n / blockSize).multipliedReportingOverflow(by: blockBytes)
        return o ? nil : r
    }

    /// Byte offsets of the fp16 scale fields (d, and m or dmin) inside one block; empty for the float types.
    var scaleOffsets: [Int] {
        switch self {
        case .f32, .f16, .bf16: return []
        case .q8_0, .q4_0, .q5_0: return [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: return [0, 2]
        case .q6_K: return [208]
        }
    }

    /// The type a row of `cols` elements is stored as when asked for this one: itself when `cols` is a multiple
    /// of the block size, else llama-quantize's fallback for K-quants (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0;
    /// `llama_tensor_get_type`), and F16 for anything else that does not fit.
    public func storable(cols: Int) -> GGMLType {
        if cols % blockSize == 0 { return self }
        let fallback: GGMLType
        switch self {
        case .q4_K: fallback = .q5_0
        case .q5_K: fallback = .q5_1
        case .q6_K: fallback = .q8_0
        default: fallback = .f16
        }
        return cols % fallback.blockSize == 0 ? fallback : .f16
    }

    /// Types the compute kernels multiply directly: every case (none is converted on load).
    public var isComputeType: Bool { true }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        }
    }

    /// Parses a user-facing name such as `q8_0`, `Q4_K`, `f16`.
    public init?(name: String) {
        guard let t = GGMLType.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else { return nil }
        self = t
    }
}
