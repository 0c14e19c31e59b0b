import ArgumentParser
import Foundation
import LoRAKit

extension CombineMethod: ExpressibleByArgument {}

struct CombineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "combine",
        abstract: "Combine LoRA adapters into one PEFT adapter with weights (PEFT's add_weighted_adapter: linear, cat or svd).",
        discussion: """
            linear: weighted sums of the factors (equal ranks; what PEFT calls linear, not Σ w·ΔW); cat: factors \
            stacked, rank Σ r, exactly Σ w·ΔW; svd: Σ w·ΔW truncated to --rank (default: the largest rank) by SVD. \
            The result has lora_alpha = its rank (scale 1) and the union of the target modules. To apply several \
            adapters at once without writing one, use `eval --stack` / `generate --stack`.
            """)

    @Option(name: .customLong("adapter"), help: "PEFT adapter folder (repeat: one per adapter, in order).") var adapters: [String] = []
    @Option(help: "Comma-separated weights, one per adapter (default: 1 each).") var weights: String?
    @Option(help: "linear, cat or svd (default: cat).") var method: CombineMethod = .cat
    @Option(help: "Rank of the svd result (default: the largest input rank).") var rank: Int?
    @Option(help: "Output adapter folder.") var out: String

    func run() throws {
        guard adapters.count >= 1 else { throw ValidationError("give at least one --adapter") }
        let w = try parseWeights(weights, count: adapters.count)
        try OutputPath.checkDistinct(output: out, inputs: adapters)
        let factors = try adapters.map { try AdapterFactors.loadPEFT(from: $0) }
        let c = try AdapterFactors.combine(factors, weights: w, method: method, rank: rank)
        try c.savePEFT(to: out)
        print("combined \(adapters.count) adapter\(adapters.count == 1 ? "" : "s") (\(method.rawValue), weights "
              + w.map { String(format: "%g", $0) }.joined(separator: ", ") + ") into \(out): rank \(c.rank), \(c.matrices.count) matrices")
    }
}

/// "0.7,0.3" → [0.7, 0.3]; nil → 1 for each.
func parseWeights(_ s: String?, count: Int) throws -> [Double] {
    guard let s else { return Array(repeating: 1, count: count) }
    let w = try s.split(separator: ",").map { p -> Double in
        guard let v = Double(p.trimmingCharacters(in: .whitespaces)), v.isFinite else { throw ValidationError("--weights: '\(p)' is not a number") }
        return v
    }
    guard w.count == count else { throw ValidationError("--weights has \(w.count) values for \(count) adapters") }
    return w
}

/// `--stack PATH[:WEIGHT]`: adapters applied at once with weights (ΔW = Σ w·ΔW).
func parseStack(_ items: [String]) throws -> [(path: String, weight: Double)] {
    try items.map { item in
        if let i = item.lastIndex(of: ":"), let w = Double(item[item.index(after: i)...]) {
            guard w.isFinite else { throw ValidationError("--stack \(item): the weight is not finite") }
            return (String(item[..<i]), w)
        }
        return (item, 1)
    }
}
