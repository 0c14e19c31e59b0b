import Foundation
import LoRAKit

/// One-line descriptions of a loaded model.
enum ModelReport {
    static func summaryLine(_ w: ModelWeights) -> String {
        let c = w.config
        return "model: \(w.source.path) — \(c.blockCount) layers, dim \(c.embeddingLength), ffn \(c.feedForwardLength), " +
            "heads \(c.headCount)/\(c.headCountKV), vocab \(c.vocabSize), \(LoRAKitFormat.params(c.parameterCount)) params"
    }
}

enum LoRAKitFormat {
    static func params(_ n: Int) -> String {
        n >= 1_000_000_000 ? String(format: "%.2fB", Double(n) / 1e9) : String(format: "%.1fM", Double(n) / 1e6)
    }
}
