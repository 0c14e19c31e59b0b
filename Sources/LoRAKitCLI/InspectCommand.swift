import ArgumentParser
import Foundation
import LoRAKit

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a model's architecture, tensor types and sizes, and tokenizer (a .gguf file or a Hugging Face folder).")

    @Option(name: .customLong("model"), help: "A .gguf file or a folder with config.json and *.safetensors.") var modelOption: String?
    @Argument(help: "The model, as a positional argument (same as --model).") var modelArgument: String?

    var model: String { modelOption ?? modelArgument ?? "" }

    func validate() throws {
        guard (modelOption == nil) != (modelArgument == nil) else { throw ValidationError("give the model once: --model FILE (or as the argument)") }
    }
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        // FormatError descriptions name the file, field and offset; ArgumentParser prints them, exit 1.
        let s = try ModelSummary.inspect(path: model)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(s), as: UTF8.self))
            return
        }
        let c = s.config
        func row(_ k: String, _ v: String) { print(k.padding(toLength: 22, withPad: " ", startingAt: 0) + v) }
        row("path", s.path)
        if let n = s.name { row("name", n) }
        row("format", s.format == .gguf ? "GGUF" : "Hugging Face safetensors")
        row("file size", "\(s.fileSize) bytes (\(mib(s.fileSize)))")
        if let end = s.dataEnd {
            row("weights", "absent: header only (the tensor data would end at byte \(end); training and evaluation need the full file)")
        }
        print("\narchitecture (\(c.architecture.rawValue))")
        row("  layers", "\(c.blockCount)")
        row("  embedding", "\(c.embeddingLength)")
        row("  feed-forward", "\(c.feedForwardLength)")
        row("  heads", "\(c.headCount)")
        row("  kv heads", "\(c.headCountKV)")
        row("  head dim", "\(c.headDim)")
        row("  vocab", "\(c.vocabSize)")
        row("  context", "\(c.contextLength)")
        row("  rope base", "\(c.ropeFreqBase)")
        if let r = c.ropeScaling {
            row("  rope scaling", "llama3 factor \(r.factor), low \(r.lowFreqFactor), high \(r.highFreqFactor), original context \(r.originalContextLength)")
        }
        row("  rms norm eps", "\(c.rmsNormEps)")
        if c.ropeStyle == .neox { row("  rope pairs", "neox (rotate-half)") }
        if c.attentionBias { row("  q/k/v bias", "yes") }
        if c.qkNorm { row("  q/k norm", "per head") }
        if let w = c.slidingWindow { row("  sliding window", "\(w)") }
        row("  tied embeddings", c.tiedEmbeddings ? "yes" : "no")
        print("\ntensors: \(s.tensorCount), parameters: \(s.parameterCount) (\(String(format: "%.1f", Double(s.parameterCount) / 1e6)) M)")
        print("  " + "type".padding(toLength: 8, withPad: " ", startingAt: 0) + "count".leftPad(8) + "bits/weight".leftPad(13)
            + "bytes".leftPad(14) + "size".leftPad(12))
        for t in s.tensorsByType.keys.sorted() {
            let n = s.tensorsByType[t] ?? 0, b = s.bytesByType[t] ?? 0
            let bpw = (s.bitsPerWeightByType[t] ?? GGMLType(name: t)?.bitsPerWeight).map { String(format: "%.4g", $0) } ?? "-"
            print("  " + t.padding(toLength: 8, withPad: " ", startingAt: 0) + "\(n)".leftPad(8) + bpw.leftPad(13)
                + "\(b)".leftPad(14) + mib(b).leftPad(12))
        }
        print("\ntokenizer")
        row("  model", s.tokenizerModel ?? "(none)")
        if let p = s.tokenizerPre { row("  pre-tokenizer", p) }
        row("  chat template", s.hasChatTemplate ? "present" : "absent")
    }

    private func mib(_ n: Int) -> String { String(format: "%.1f MiB", Double(n) / 1_048_576) }
}

private extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: " ", count: n - count) + self }
}
