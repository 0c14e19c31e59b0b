import Foundation

extension ModelWeights {
    /// One line: path, layers, dimensions, heads, vocabulary and parameter count.
    public var summaryLine: String {
        let c = config
        let n = c.parameterCount
        let params = n >= 1_000_000_000 ? String(format: "%.2fB", Double(n) / 1e9) : String(format: "%.1fM", Double(n) / 1e6)
        return "model: \(source.path) — \(c.blockCount) layers, dim \(c.embeddingLength), ffn \(c.feedForwardLength), " +
            "heads \(c.headCount)/\(c.headCountKV), vocab \(c.vocabSize), \(params) params"
    }
}
