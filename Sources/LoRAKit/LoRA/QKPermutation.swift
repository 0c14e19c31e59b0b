/// The row permutation the HF→GGUF converter applies to q_proj and k_proj weights (and which
/// therefore applies to the output rows of their LoRA B factors).
///
/// Hugging Face stores each head's rows in the rotate-half layout (first half of the head's
/// dimensions, then second half); GGUF interleaves them so RoPE pairs are adjacent. Per head `h`
/// with head dim `hd`, for `i < hd/2`, `j ∈ {0, 1}`:
///
///     gguf_row[h·hd + 2i + j] = hf_row[h·hd + j·hd/2 + i]
public enum QKPermutation {
    /// For each GGUF row, the HF row it comes from: `result[g] = hf` with `gguf_row[g] = hf_row[hf]`.
    /// `rows` must be `heads · headDim` with an even `headDim`.
    public static func hfRowForGGUFRow(heads: Int, headDim: Int) -> [Int] {
        let half = headDim / 2
        var map = [Int](repeating: 0, count: heads * headDim)
        for h in 0 ..< heads {
            for i in 0 ..< half {
                for j in 0 ..< 2 {
                    map[h * headDim + 2 * i + j] = h * headDim + j * half + i
                }
            }
        }
        return map
    }

    /// Reorders the rows of a row-major `[rows, cols]` matrix from HF to GGUF order.
    public static func hfToGGUF(_ m: [Float], rows: Int, cols: Int, heads: Int) throws -> [Float] {
        let map = try rowMap(rows: rows, cols: cols, count: m.count, heads: heads)
        var out = [Float](repeating: 0, count: m.count)
        for g in 0 ..< rows {
            let src = map[g] * cols, dst = g * cols
            for c in 0 ..< cols { out[dst + c] = m[src + c] }
        }
        return out
    }

    /// Reorders the rows of a row-major `[rows, cols]` matrix from GGUF back to HF order.
    public static func ggufToHF(_ m: [Float], rows: Int, cols: Int, heads: Int) throws -> [Float] {
        let map = try rowMap(rows: rows, cols: cols, count: m.count, heads: heads)
        var out = [Float](repeating: 0, count: m.count)
        for g in 0 ..< rows {
            let dst = map[g] * cols, src = g * cols
            for c in 0 ..< cols { out[dst + c] = m[src + c] }
        }
        return out
    }

    /// Heads whose rows a target's output is split into, when the target's rows are permuted
    /// (q_proj: `headCount`, k_proj: `headCountKV`); nil for the other projections and for models whose
    /// GGUF rows keep HF's order (NEOX RoPE: Qwen, Gemma — the converter permutes only Llama-family q/k).
    public static func heads(for target: LoRATarget, model: LlamaConfig) -> Int? {
        guard model.ropeStyle == .interleaved else { return nil }
        switch target {
        case .q_proj: return model.headCount
        case .k_proj: return model.headCountKV
        default: return nil
        }
    }

    private static func rowMap(rows: Int, cols: Int, count: Int, heads: Int) throws -> [Int] {
        guard heads > 0, rows > 0, rows % heads == 0, (rows / heads) % 2 == 0, cols >= 0, rows * cols == count else {
            throw QKPermutationError(rows: rows, cols: cols, count: count, heads: heads)
        }
        return hfRowForGGUFRow(heads: heads, headDim: rows / heads)
    }
}

/// A matrix that cannot be split into heads of even size.
public struct QKPermutationError: Error, CustomStringConvertible, Equatable, Sendable {
    public let rows: Int, cols: Int, count: Int, heads: Int
    public var description: String {
        "cannot permute Q/K rows: \(rows)×\(cols) matrix (\(count) values) does not split into \(heads) heads of even size"
    }
}
