/// Tensor element types as numbered in GGUF (ggml's `ggml_type`).
public enum GGMLType: UInt32, Sendable, Codable, CaseIterable, CustomStringConvertible {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q8_0 = 8, q4_K = 12, q6_K = 14, bf16 = 30

    /// Elements per block (1 for plain float types).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        case .q4_K, .q6_K: return 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q8_0: return 34
        case .q4_K: return 144
        case .q6_K: return 210
        }
    }

    /// Bytes of a row of `n` elements, or nil when `n` is not a multiple of the block size
    /// or the size overflows.
    public func rowBytes(_ n: Int) -> Int? {
        guard n >= 0, n % blockSize == 0 else { return nil }
        let (r, o) = (n / blockSize).multipliedReportingOverflow(by: blockBytes)
        return o ? nil : r
    }

    /// Types the compute kernels use directly; K-quants are converted on load.
    public var isComputeType: Bool { self != .q4_K && self != .q6_K }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        case .q4_K: return "Q4_K"
        case .q6_K: return "Q6_K"
        }
    }

    /// Parses a user-facing name such as `q8_0`, `Q4_1`, `f16`.
    public init?(name: String) {
        guard let t = GGMLType.allCases.first(where: { $0.description.lowercased() == name.lowercased() }) else { return nil }
        self = t
    }
}
