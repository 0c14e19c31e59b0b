import ArgumentParser
import Foundation
import LoRAKit

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Mean next-token loss and perplexity of a model (optionally with an adapter) on a text file.",
        discussion: """
            The text is tokenized without special tokens and cut into non-overlapping windows from its start; \
            each window of --ctx tokens scores its --ctx − 1 next-token predictions. When the model's file says \
            add_bos_token (Gemma, Llama 3) each window is BOS followed by the next --ctx − 1 text tokens, as \
            llama-perplexity does; the output says whether BOS was added (JSON: bos_added). --tokens are scored \
            as given (no BOS added).
            """)

    @Option(help: "Model: a .gguf file or a Hugging Face folder.") var model: String
    @Option(help: QuantType.help) var quant: QuantType = .q8_0
    @Option(help: "Text file to score.") var text: String?
    @Option(help: "File of whitespace-separated token ids to score instead of text.") var tokens: String?
    @Option(help: "Window length in tokens.") var ctx: Int = 512
    @Option(help: "Number of windows (fewer when the text is shorter).") var windows: Int = 8
    @Option(help: "PEFT adapter folder to apply.") var adapter: String?
    @Option(help: "Apply several adapters at once: PATH[:WEIGHT], repeatable (ΔW = Σ weight·ΔW; weight 1 when omitted).")
    var stack: [String] = []
    @OptionGroup var threads: ThreadsOption
    @Flag(help: "Print one JSON object.") var json = false
    @Option(help: "NUMA: auto, distribute, isolate or off (see `lorakit train --help`).") var numa: NUMAMode = .auto
    @OptionGroup var precision: PrecisionOption

    func run() throws {
        guard (text == nil) != (tokens == nil) else { throw ValidationError("give exactly one of --text and --tokens") }
        let precision = self.precision.precision.resolved
        warnIfSlowBF16(precision)
        let w = try ModelWeights.load(path: model, quantizeTo: quant.ggml)
        var ids: [Int32]
        var bos: Int32?
        if let text {
            guard let data = FileManager.default.contents(atPath: text) else { throw CLIError("cannot read \(text)") }
            guard let s = String(data: data, encoding: .utf8) else { throw CLIError("\(text) is not valid UTF-8") }
            let tokenizer = try Tokenizer(modelPath: model)
            ids = tokenizer.encode(s, addBOS: false, parseSpecial: false)
            if tokenizer.vocabulary.addBOS, let b = tokenizer.vocabulary.bosID { bos = Int32(b) }
        } else {
            guard let data = FileManager.default.contents(atPath: tokens!), let s = String(data: data, encoding: .utf8) else {
                throw CLIError("cannot read \(tokens!)")
            }
            ids = []
            for (i, part) in s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "," || $0 == "\t" }).enumerated() {
                guard let v = Int32(part) else { throw CLIError("\(tokens!): item \(i + 1) ('\(part)') is not a token id") }
                ids.append(v)
            }
        }
        if adapter != nil && !stack.isEmpty { throw ValidationError("give --adapter or --stack, not both") }
        let lora = try stack.isEmpty ? adapter.map { try LoRAParameters.loadPEFT(from: $0, model: w.config) }
            : LoRAParameters.stacked(try parseStack(stack), model: w.config)
        let (r, plan) = try Evaluator.evaluate(model: w, adapter: lora, tokens: ids, context: ctx, windows: windows,
                                               threads: threads.threads, numa: numa, bos: bos, precision: precision)
        if !json { print(plan.summaryLine); print("precision: \(precision.rawValue)") }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
        } else {
            print(String(format: "mean loss %.4f  perplexity %.3f  (%d tokens scored in %d windows of %d",
                         r.meanLoss, r.perplexity, r.tokensScored, r.windows, r.context)
                  + (r.bosAdded ? ", each starting with BOS)" : ", no BOS added)"))
        }
    }
}
