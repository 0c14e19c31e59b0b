import ArgumentParser
import Foundation
import LoRAKit

struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Rank spectra of a trained LoRA adapter, and rank reduction.",
        discussion: """
            For every adapted matrix: the singular values of ΔW = scale·B·A (computed from the factors, never \
            forming the out×in matrix), ‖ΔW‖_F, the energy share of the top k singular values, the effective rank \
            at 90% and 99% energy and, with --model, ‖ΔW‖_F/‖W0‖_F. A summary says which layers and module kinds \
            changed most and what rank would have sufficed.
            --reduce-rank K --out DIR writes the best rank-K approximation of every update as a PEFT adapter with \
            the same scale (alpha' = scale·K); with --model and --text it also reports the eval loss of the base, \
            the original and the reduced adapter.
            """)

    @Option(help: "PEFT adapter folder to analyze.") var adapter: String
    @Option(help: "Base model (.gguf or Hugging Face folder): adds ‖ΔW‖/‖W0‖ and enables --text.") var model: String?
    @Flag(help: "Print one JSON object with all numbers.") var json = false
    @Option(help: "Write the spectra figure (SVG) to this file.") var svg: String?
    @Option(help: "Matrices listed in the text report's top list.") var top: Int = 8
    @Option(name: .customLong("reduce-rank"), help: "Write a rank-K copy of the adapter (needs --out).") var reduceRank: Int?
    @Option(help: "Output folder of the reduced adapter.") var out: String?
    @Option(help: "Text file to compare eval loss of the original and the reduced adapter (needs --model and --reduce-rank).")
    var text: String?
    @Option(help: "JSONL file (chat, prompt/completion or text lines) to compare the loss on, masked as `train` validates (needs --model and --reduce-rank).")
    var data: String?
    @Option(help: "Eval window length in tokens (--text), sequence length (--data).") var ctx: Int = 256
    @Option(help: "Number of eval windows.") var windows: Int = 8
    @OptionGroup var threadsOption: ThreadsOption
    var threads: Int? { threadsOption.threads }

    func validate() throws {
        if (reduceRank == nil) != (out == nil) { throw ValidationError("--reduce-rank and --out go together") }
        if (text != nil || data != nil) && (model == nil || reduceRank == nil) {
            throw ValidationError("--text and --data need --model and --reduce-rank")
        }
        if top < 0 { throw ValidationError("--top must be >= 0") }
    }

    func run() throws {
        let factors = try AdapterFactors.loadPEFT(from: adapter)
        var spectra = try factors.spectra()
        var weights: ModelWeights?
        var original: LoRAParameters?
        if let model {
            let w = try ModelWeights.load(path: model)
            original = try LoRAParameters.loadPEFT(from: adapter, model: w.config)  // refuses an adapter for another base
            for i in spectra.indices {
                let s = spectra[i]
                guard s.layer < w.layers.count, let t = LoRATarget(rawValue: s.module) else { continue }
                try spectra[i].attachBase(w.layers[s.layer].matrix(t))
            }
            weights = w
        }
        let analysis = AdapterAnalysis(adapter: adapter, factors: factors, spectra: spectra)
        if let svg {
            try RunDirectory.writeAtomically(Data(SpectrumSVG.render(analysis).utf8), to: svg)
        }

        var reduction: ReductionOutput?
        if let k = reduceRank, let out {
            let a = URL(fileURLWithPath: adapter).standardizedFileURL.resolvingSymlinksInPath().path
            let o = URL(fileURLWithPath: out).standardizedFileURL.resolvingSymlinksInPath().path
            guard a != o else { throw AnalyzeError.outputIsInput(out) }
            let (reduced, losses) = try factors.reduced(toRank: k)
            try reduced.savePEFT(to: out)
            let dropped = losses.reduce(0) { $0 + $1.discardedEnergy }
            var r = ReductionOutput(rank: k, alpha: reduced.alpha, out: out, discardedEnergy: dropped,
                                    discardedShare: analysis.totalEnergy > 0 ? dropped / analysis.totalEnergy : 0,
                                    maxDiscardedShare: losses.map(\.discardedShare).max() ?? 0, matrices: losses, eval: nil, dataEval: nil)
            if let text, let w = weights, let original {
                guard let data = FileManager.default.contents(atPath: text) else { throw CLIError("cannot read \(text)") }
                guard let s = String(data: data, encoding: .utf8) else { throw CLIError("\(text) is not valid UTF-8") }
                let ids = try Tokenizer(modelPath: model!).encode(s, addBOS: false, parseSpecial: false)
                let small = try LoRAParameters.loadPEFT(from: out, model: w.config)
                let pool = ThreadPool(threads: threads ?? ThreadPool.defaultThreadCount)
                func ev(_ p: LoRAParameters?) throws -> EvalResult {
                    try Evaluator.evaluate(model: w, adapter: p, tokens: ids, context: ctx, windows: windows, pool: pool)
                }
                r.eval = EvalComparison(base: try ev(nil), original: try ev(original), reduced: try ev(small))
            }
            if let data, let w = weights, let original {
                let small = try LoRAParameters.loadPEFT(from: out, model: w.config)
                func config(_ p: LoRAParameters) -> TrainingConfig {
                    TrainingConfig(lora: p.config, batchSize: 4, sequenceLength: ctx, threads: threads)
                }
                let ds = try TokenizedDataset(path: data, tokenizer: try Tokenizer(modelPath: model!), options: config(original).datasetOptions)
                // The trainer's graph applies LoRA dropout; score with a dropout-free copy of the factors.
                func ev(_ p: LoRAParameters) throws -> EvalMetrics {
                    var c = p.config
                    c.dropout = 0
                    var q = try LoRAParameters(config: c, model: w.config)
                    q.values = p.values
                    return try LoRATrainer(model: w, config: config(q), adapter: q).evaluate(ds)
                }
                var zero = original
                for i in zero.values.indices { zero.values[i] = 0 }  // B = 0: the base model
                r.dataEval = DataEvalComparison(data: data, base: try ev(zero), original: try ev(original), reduced: try ev(small))
            }
            reduction = r
        }

        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(AnalyzeOutput(analysis: analysis, reduction: reduction)), as: UTF8.self))
            return
        }
        print(analysis.text(top: top), terminator: "")
        if let svg { print("\nfigure: \(svg)") }
        if let r = reduction {
            print("\nreduced to rank \(r.rank) (alpha \(String(format: "%g", Double(r.alpha))), same scale) -> \(r.out)")
            print(String(format: "  discarded %.3f%% of the total update energy; worst matrix lost %.3f%%",
                         100 * r.discardedShare, 100 * r.maxDiscardedShare))
            if let e = r.eval {
                print("  eval loss on \(text ?? "") (\(e.original.tokensScored) tokens in \(e.original.windows) windows of \(e.original.context)):")
                print(String(format: "    base model        %.4f  (ppl %.3f)", e.base.meanLoss, e.base.perplexity))
                print(String(format: "    original r=%-4d   %.4f  (ppl %.3f)", factors.rank, e.original.meanLoss, e.original.perplexity))
                print(String(format: "    reduced  r=%-4d   %.4f  (ppl %.3f)  %+.4f vs original", r.rank, e.reduced.meanLoss,
                             e.reduced.perplexity, e.reduced.meanLoss - e.original.meanLoss))
            }
            if let e = r.dataEval {
                print("  loss on \(e.data) (\(e.original.targets) target tokens, prompts masked):")
                print(String(format: "    base model        %.4f  (ppl %.3f)", e.base.loss, e.base.perplexity))
                print(String(format: "    original r=%-4d   %.4f  (ppl %.3f)", factors.rank, e.original.loss, e.original.perplexity))
                print(String(format: "    reduced  r=%-4d   %.4f  (ppl %.3f)  %+.4f vs original", r.rank, e.reduced.loss,
                             e.reduced.perplexity, e.reduced.loss - e.original.loss))
            }
        }
    }
}

/// Eval losses of the base, the original adapter and the reduced one on the same tokens.
struct EvalComparison: Codable {
    var base: EvalResult
    var original: EvalResult
    var reduced: EvalResult
}

/// Masked losses on a JSONL file (as `train` validates) of the base, the original adapter and the reduced one.
struct DataEvalComparison: Codable {
    var data: String
    var base: EvalMetrics
    var original: EvalMetrics
    var reduced: EvalMetrics
}

/// What `--reduce-rank` did.
struct ReductionOutput: Codable {
    var rank: Int
    var alpha: Float
    var out: String
    var discardedEnergy: Double
    var discardedShare: Double
    var maxDiscardedShare: Double
    var matrices: [ReductionLoss]
    var eval: EvalComparison?
    var dataEval: DataEvalComparison?

    enum CodingKeys: String, CodingKey {
        case rank, alpha, out, discardedEnergy = "discarded_energy", discardedShare = "discarded_share"
        case maxDiscardedShare = "max_discarded_share", matrices, eval, dataEval = "data_eval"
    }
}

/// The `--json` document.
struct AnalyzeOutput: Codable {
    var analysis: AdapterAnalysis
    var reduction: ReductionOutput?
}
