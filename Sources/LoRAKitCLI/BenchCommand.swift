import ArgumentParser
import Foundation
import LoRAKit

/// `lorakit bench train|forward|kernels`: speed of a training step, a forward pass and the
/// frozen-weight kernels, with the raw sgemm ceiling measured in the same process.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training steps, forward passes or the frozen-weight kernels (median time, tokens/s, GFLOP/s, fraction of raw sgemm, peak RSS).")

    @Argument(help: "train, forward, kernels or curve (loss of --steps steps on one fixed batch in every precision, compared with fp32).") var what: String
    @Option(help: "Steps of `bench curve`.") var steps: Int = 100
    @Option(help: "GGUF model file (default: ~/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf).") var model: String?
    @Option(help: "A preset architecture with random weights instead of a model file: \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")).")
    var preset: String?
    @Option(help: "Block type of the random weights with --preset (and of `bench kernels`): q8_0 (default), q4_0 or q4_1.") var quant: QuantType = .q8_0
    @OptionGroup var threadsOption: ThreadsOption
    @Option(name: [.customLong("batch-size"), .customLong("batch")], help: "Sequences per step (train default 4, forward 1).") var batch: Int?
    @Option(name: [.customLong("seq-len"), .customLong("seq")], help: "Tokens per sequence (train default 256, forward 512).") var seq: Int?
    @Option(help: "Measured repetitions (median reported).") var repeats: Int = 5
    @Option(help: "Unmeasured warm-up repetitions.") var warmup: Int = 1
    @Option(help: "LoRA rank.") var rank: Int = 8
    @Option(help: "LoRA alpha.") var alpha: Float = 16
    @Option(help: "Target modules, comma-separated PEFT names or all-linear.") var targets: String = "q_proj,v_proj"
    @Flag(help: "DoRA adapters (PEFT use_dora).") var dora = false
    @OptionGroup var precision: PrecisionOption
    @Flag(help: "Skip measuring raw cblas_sgemm on the same shapes.") var noCeiling = false
    @Option(help: "Gradient checkpointing in `bench train`: on (least memory, one more forward) or off (default).") var checkpointing: Switch = .off
    @Option(help: "`bench kernels`: only these shapes, comma-separated names (q/o, k/v, gate/up, down, lm_head; default all).")
    var shapes: String?

    var threads: Int { threadsOption.threads ?? ThreadPool.defaultThreadCount }
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard ["train", "forward", "kernels", "curve"].contains(what) else { throw ValidationError("bench what? train, forward or kernels (got '\(what)')") }
        if threads < 1 || repeats < 1 || warmup < 0 { throw ValidationError("--threads and --repeats must be ≥ 1, --warmup ≥ 0") }
        if model != nil && preset != nil { throw ValidationError("give --model or --preset, not both") }
    }

    func run() throws {
        let type = quant.ggml
        var o = BenchOptions()
        o.precision = precision.precision.resolved
        o.threads = threads; o.repeats = repeats; o.warmup = warmup; o.measureCeiling = !noCeiling; o.checkpointing = checkpointing.isOn
        let ts = try LoRAConfig.parseTargets([targets])
        o.lora = LoRAConfig(rank: rank, alpha: alpha, targets: ts, useDoRA: dora)
        var reports: [BenchReport] = []
        if what == "curve" {
            let w = try loadWeights(type)
            o.batch = batch ?? 4; o.sequence = seq ?? 256
            var curves: [String: [Double]] = [:]
            for p in ComputePrecision.allCases {
                o.precision = p
                curves[p.rawValue] = try Bench.lossCurve(weights: w, options: o, steps: steps)
            }
            let a = curves["fp32"] ?? []
            for p in ComputePrecision.allCases where p != .fp32 {
                let b = curves[p.rawValue] ?? [], d = zip(a, b).map { abs($0 - $1) }
                print(String(format: "loss curves over %d steps: fp32 %.4f → %.4f, %@ %.4f → %.4f; max |Δ| %.4f, mean |Δ| %.4f, last |Δ| %.4f",
                             steps, a.first ?? 0, a.last ?? 0, p.rawValue, b.first ?? 0, b.last ?? 0, d.max() ?? 0,
                             d.isEmpty ? 0 : d.reduce(0, +) / Double(d.count), d.last ?? 0))
            }
            if json {
                print(String(decoding: try JSONEncoder().encode(curves), as: UTF8.self))
            }
            return
        }
        if what == "kernels" {
            let config = try preset.map { try ModelPreset.named($0).config } ?? loadWeights(type).config
            let wanted = shapes.map { Set($0.split(separator: ",").map(String.init)) }
            let all = Bench.KernelShape.of(config), chosen = all.filter { wanted?.contains($0.name) ?? true }
            if let wanted, chosen.count != wanted.count {
                throw ValidationError("--shapes: unknown name in \(wanted.sorted()); known: \(all.map(\.name).joined(separator: ", "))")
            }
            reports = try Bench.kernels(shapes: chosen, type: type,
                                        tokens: (batch ?? 4) * (seq ?? 256), options: o)
        } else {
            let w = try loadWeights(type)
            if what == "train" {
                o.batch = batch ?? 4; o.sequence = seq ?? 256
                reports = [try Bench.train(weights: w, options: o)]
            } else {
                o.batch = batch ?? 1; o.sequence = seq ?? 512
                reports = [try Bench.forward(weights: w, options: o)]
            }
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(reports), as: UTF8.self))
        } else {
            for r in reports { print(r.text) }
        }
    }

    /// The model file, or a preset synthesized into a temporary GGUF.
    func loadWeights(_ type: GGMLType) throws -> ModelWeights {
        if let preset {
            let p = try ModelPreset.named(preset)
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-bench-\(p.rawValue)-\(type)-\(getpid()).gguf").path
            _ = try SynthModel.write(SynthOptions(preset: p, type: type), to: path)
            defer { try? FileManager.default.removeItem(atPath: path) }
            return try ModelWeights.load(path: path)
        }
        let path = model ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        return try ModelWeights.load(path: path)
    }
}
