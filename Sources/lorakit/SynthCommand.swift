import ArgumentParser
import Foundation
import LoRAKit

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a GGUF model of a preset's exact shapes with random weights (streamed to disk), for sizing and testing without downloads.")

    @Option(help: "Architecture: \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")).") var preset: String
    @Option(help: "Block type of the matrices: q4_0, q4_1 or q8_0 (f16, f32 for small tests).") var quant: String = "q4_0"
    @Option(help: "Output .gguf file.") var out: String
    @Option(help: "Random seed of the weights.") var seed: UInt64 = 0
    @Option(help: "Number of transformer blocks (default: the preset's), to shrink the model for tests.") var layers: Int?
    @Option(help: "A tokenizer.json (or a folder with one, or a .gguf) whose vocabulary the file carries; none if omitted.")
    var tokenizer: String?

    func run() throws {
        let p = try ModelPreset.named(preset)
        guard let type = GGMLType(name: quant) ?? GGMLType(name: quant.uppercased()) else {
            throw ValidationError("unknown --quant '\(quant)' (q4_0, q4_1, q8_0, f16, f32)")
        }
        if let layers, layers < 1 { throw ValidationError("--layers must be at least 1") }
        let vocab = try tokenizer.map { try BPEVocabulary(modelPath: $0) }
        let o = SynthOptions(preset: p, type: type, seed: seed, layers: layers, vocabulary: vocab)
        let start = Date()
        let bytes = try SynthModel.write(o, to: out)
        let secs = Date().timeIntervalSince(start)
        print(String(format: "wrote %@: %@ %d layers, %@, %.2f GB in %.1f s (%.0f MB/s)", out, p.rawValue,
                     o.config.blockCount, "\(type)", Double(bytes) / 1e9, secs, Double(bytes) / 1e6 / max(secs, 1e-9)))
    }
}
