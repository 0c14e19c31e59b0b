import ArgumentParser
import Foundation
import LoRAKit

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text with a KV cache, optionally through one or more LoRA adapters over one loaded base.",
        discussion: """
            Give one of --prompt, --prompts FILE (one prompt per line) or --chat (without --prompt: an interactive \
            chat on stdin). With --chat prompts are rendered with the model's chat template. Each --adapter is \
            loaded once over the same base; every prompt is answered by each adapter in turn (--with-base adds the \
            base model first), each answer under a "### label" line when there is more than one. Output streams \
            as it is generated. Greedy by default; --temperature > 0 samples (with --top-p, --top-k, --seed).
            """)

    @Option(help: "Model: a .gguf file or a Hugging Face folder.") var model: String
    @Option(help: QuantType.help) var quant: QuantType = .q8_0
    @Option(name: .customLong("adapter"), help: "PEFT adapter folder (repeatable: each answers in turn).") var adapters: [String] = []
    @Option(help: "Apply several adapters at once: PATH[:WEIGHT], repeatable (ΔW = Σ weight·ΔW); answers as one more variant.")
    var stack: [String] = []
    @Option(help: "Prompt text.") var prompt: String?
    @Option(help: "File with one prompt per line.") var prompts: String?
    @Flag(help: "Render prompts with the model's chat template (interactive when no --prompt/--prompts).") var chat = false
    @Option(help: "System message for --chat.") var system: String?
    @Option(name: [.customLong("chat-template"), .customLong("template")],
            help: "Chat template name instead of the model's (chatml, smollm2, llama3, llama3.1); --template is the old spelling.")
    var template: String?
    @Flag(help: "Also answer with the base model (first).") var withBase = false
    @Option(help: "Maximum new tokens per answer.") var maxTokens: Int = 256
    @Option(help: "Sampling temperature (0 = greedy).") var temperature: Float = 0
    @Option(help: "Nucleus sampling threshold.") var topP: Float = 1
    @Option(help: "Keep only the k most likely tokens (0 = all).") var topK: Int = 0
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(help: "KV cache size in tokens (prompt + answer).") var ctx: Int = 2048
    @OptionGroup var threads: ThreadsOption
    @Flag(help: "Print token counts and speeds to stderr after each answer.") var stats = false

    func validate() throws {
        let n = (prompt != nil ? 1 : 0) + (prompts != nil ? 1 : 0)
        guard n <= 1 else { throw ValidationError("give at most one of --prompt and --prompts") }
        guard n == 1 || chat else { throw ValidationError("give --prompt, --prompts or --chat") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
    }

    func run() throws {
        let w = try ModelWeights.load(path: model, quantizeTo: quant.ggml)
        let tok = try Tokenizer(modelPath: model)
        let pool = ThreadPool(threads: threads.threads ?? ThreadPool.defaultThreadCount)
        let gen = try Generator(model: w, tokenizer: tok, maxContext: ctx, pool: pool)
        let set = AdapterSet(model: w)
        for a in adapters { try set.load(peftDirectory: a) }
        if !stack.isEmpty {
            let s = try parseStack(stack)
            set.add(LoRAAdapter(name: "stack(" + s.map { "\(($0.path as NSString).lastPathComponent):\(String(format: "%g", $0.weight))" }.joined(separator: ",") + ")",
                                parameters: try LoRAParameters.stacked(s, model: w.config)))
        }
        var variants: [LoRAAdapter?] = set.adapters.map { $0 }
        if variants.isEmpty || withBase { variants.insert(nil, at: 0) }
        let tmpl = chat ? try ChatTemplate(vocabulary: tok.vocabulary, name: template) : nil
        let opts = GenerationOptions(maxTokens: maxTokens,
                                     sampling: SamplingOptions(temperature: temperature, topP: topP, topK: topK, seed: seed))

        var texts: [String] = []
        if let prompt { texts = [prompt] }
        if let prompts {
            guard let data = FileManager.default.contents(atPath: prompts), let s = String(data: data, encoding: .utf8) else {
                throw CLIError("cannot read \(prompts)")
            }
            texts = s.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
                .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        }
        if texts.isEmpty && chat {
            try interactive(gen, tmpl!, variants.last!, opts)
            return
        }
        let labelled = variants.count > 1 || texts.count > 1
        for (i, text) in texts.enumerated() {
            let ids = try encode(tok, tmpl, [ChatMessage(role: "user", content: text)])
            for v in variants {
                if labelled { emit("### [\(v?.name ?? "base")] prompt \(i + 1): \(text)\n") }
                try gen.setAdapter(v)
                try answer(gen, ids, opts)
            }
        }
    }

    func encode(_ tok: Tokenizer, _ tmpl: ChatTemplate?, _ messages: [ChatMessage]) throws -> [Int32] {
        guard let tmpl else { return tok.encode(messages.last?.content ?? "") }
        var m = messages
        if let system, m.first?.role != "system" { m.insert(ChatMessage(role: "system", content: system), at: 0) }
        return tok.encode(tmpl.render(messages: m, addGenerationPrompt: true), addBOS: false, parseSpecial: true)
    }

    @discardableResult
    func answer(_ gen: Generator, _ ids: [Int32], _ opts: GenerationOptions) throws -> GenerationResult {
        let r = try gen.generate(prompt: ids, options: opts) { piece in
            emit(piece)
            return true
        }
        emit("\n")
        if stats {
            let pre = r.prefillSeconds > 0 ? Double(r.promptTokens) / r.prefillSeconds : 0
            FileHandle.standardError.write(Data((String(format: "[%d prompt tokens at %.1f tok/s, %d generated at %.1f tok/s, stop: ",
                                                       r.promptTokens, pre, r.tokens.count, r.tokensPerSecond)
                                                + r.stopReason.rawValue + "]\n").utf8))
        }
        return r
    }

    /// Writes to stdout unbuffered (pieces appear as they are generated, in order with stderr).
    func emit(_ s: String) { FileHandle.standardOutput.write(Data(s.utf8)) }

    /// A multi-turn chat on stdin: one user message per line, the history kept in the prompt.
    func interactive(_ gen: Generator, _ tmpl: ChatTemplate, _ adapter: LoRAAdapter?, _ opts: GenerationOptions) throws {
        try gen.setAdapter(adapter)
        var history: [ChatMessage] = []
        FileHandle.standardError.write(Data("chat with \(adapter?.name ?? "the base model"); end with an empty line or EOF\n".utf8))
        while true {
            FileHandle.standardError.write(Data("> ".utf8))
            guard let line = readLine(), !line.isEmpty else { break }
            history.append(ChatMessage(role: "user", content: line))
            let r = try answer(gen, try encode(gen.tokenizer, tmpl, history), opts)
            history.append(ChatMessage(role: "assistant", content: r.text))
        }
    }
}
