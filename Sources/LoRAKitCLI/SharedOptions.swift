import ArgumentParser
import Foundation
import LoRAKit

// One vocabulary for every subcommand: the same option names, defaults and accepted values.

extension PrecisionSetting: ExpressibleByArgument {}
extension NUMAMode: ExpressibleByArgument {}
extension LRSchedule.Kind: ExpressibleByArgument {}
extension BadLinePolicy: ExpressibleByArgument {}

/// `on` / `off` (also `true`/`false`), for settings that are switches with a default.
enum Switch: String, ExpressibleByArgument, CaseIterable {
    case on, off
    init?(argument: String) {
        switch argument.lowercased() {
        case "on", "true", "yes", "layer": self = .on
        case "off", "false", "no", "none": self = .off
        default: return nil
        }
    }
    var isOn: Bool { self == .on }
}

/// Block types weights can be quantized to when loaded from Hugging Face safetensors (or synthesized):
/// the same list and default everywhere.
enum QuantType: String, ExpressibleByArgument, CaseIterable {
    case q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k
    var ggml: GGMLType { GGMLType(name: rawValue)! }
    static let help: ArgumentHelp = "Block type Hugging Face safetensors weights are quantized to on load (GGUF files keep their own types): q8_0 (default), q4_0, q4_1, q5_0, q5_1, q4_k, q5_k or q6_k (K types fall back as llama-quantize does on rows not a multiple of 256)."
}

/// `--threads`: the same meaning and default everywhere.
struct ThreadsOption: ParsableArguments {
    @Option(help: "Worker threads (default: one per CPU this process may use).") var threads: Int?
}

/// `--precision`: the same values and default everywhere.
struct PrecisionOption: ParsableArguments {
    @Option(help: "Arithmetic of the frozen-weight products: auto (default: bf16 on CPUs with AVX512-BF16 — about 2.5x faster, about 2^-8 relative error per product — else fp32), fp32 or bf16.")
    var precision: PrecisionSetting = .auto
}

/// Every setting of a training run, shared by `train` and `budget` (so the budget is the run's).
struct TrainingOptions: ParsableArguments {
    @Option(help: "JSON file with a training configuration (run_config.json's key names; unknown keys are errors). Options given here override it.")
    var config: String?
    @Option(help: "LoRA rank.") var rank: Int?
    @Option(help: "LoRA alpha (scale = alpha/rank).") var alpha: Float?
    @Option(help: "LoRA dropout probability.") var dropout: Float?
    @Flag(help: "rsLoRA scaling (alpha/√rank).") var rslora = false
    @Flag(help: "Quant-aware LoRA: A is constant over each 32-column quantization group, so merging into a Q4_1/Q5_1/Q4_K/Q5_K base writes the change into the block offsets instead of losing it to requantization.")
    var quantAware = false
    @Flag(help: "With --quant-aware on a Q4_K/Q5_K base: train the change rounded to the 6-bit min grid the in-place merge writes (straight-through), so `merge --type same` gives exactly the trained model; the saved adapter is that rounded change.")
    var quantGrid = false
    @Flag(help: "DoRA (PEFT use_dora): also train a magnitude per output row; no dropout.") var dora = false
    @Option(help: "LoRA+: learning rate of B (and DoRA magnitudes) = this × lr (paper: ~16; 0: off).") var loraPlusRatio: Float?
    @Option(help: "Target modules, comma-separated PEFT names (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj) or all-linear.")
    var targets: String?
    @Option(help: "Peak learning rate.") var lr: Float?
    @Option(help: "Schedule: constant, linear or cosine.") var schedule: LRSchedule.Kind?
    @Option(help: "Warmup steps.") var warmup: Int?
    @Option(help: "Optimizer steps (overrides --epochs). Raising it on a finished run continues that run.") var steps: Int?
    @Option(help: "Epochs over the training data.") var epochs: Double?
    @Option(help: "Sequences per micro-batch.") var batchSize: Int?
    @Option(help: "Tokens per sequence.") var seqLen: Int?
    @Option(help: "Micro-batches per optimizer step.") var gradAccum: Int?
    @Option(help: "AdamW weight decay.") var weightDecay: Float?
    @Option(help: "Clip the global gradient norm (0 disables).") var maxGradNorm: Float?
    @Flag(inversion: .prefixedNo, help: "Loss only on completions / assistant turns (default: on).") var maskPrompt: Bool? = nil
    @Flag(help: "Pack examples end to end into full sequences.") var packing = false
    @Option(help: "Random seed (init, shuffling, dropout).") var seed: UInt64?
    @OptionGroup var threadsOption: ThreadsOption
    @Option(help: "Validate every N steps (0: only at the end).") var evalInterval: Int?
    @Option(help: "Validation batches per evaluation (0: all).") var evalBatches: Int?
    @Option(help: "Save a checkpoint (and the adapter) every N steps (0: only at the end and when stopped; default 25).") var saveInterval: Int?
    @Option(help: "Checkpoints kept in OUT/checkpoints (default 3).") var keepCheckpoints: Int?
    @Option(help: "Stop after N steps in a row with a non-finite loss or gradient (they are skipped; 0: never stop; default 10).")
    var nonFiniteLimit: Int?
    @Option(help: "Gradient checkpointing: on (recompute layers in backward, less memory) or off (default).") var checkpointing: Switch?
    @Option(help: "Bad JSONL lines: fail (default) or skip (with a warning).") var badLines: BadLinePolicy?
    @Option(help: "Chat template: chatml, smollm2, llama3, llama3.1 (default: the model's own).") var chatTemplate: String?
    @Option(help: "NUMA: auto (default: distribute when more than one node is allowed), distribute (workers pinned on every node, weights split by rows into node-local memory), isolate (pinned to one node), off. Never changes the results.")
    var numa: NUMAMode?
    @Option(help: "Arithmetic of the frozen-weight products: auto (default: bf16 on CPUs with AVX512-BF16 — about 2.5x faster, about 2^-8 relative error per product — else fp32), fp32, bf16 or int8 (layers on int8 dot products, AVX512-VNNI: see the README for speed and accuracy). A checkpoint resumes only with its own precision.")
    var precision: PrecisionSetting?
    @Option(help: "Memory cap, e.g. 6GB; checkpointing is chosen automatically to stay under it.") var maxMemory: String?
    @Option(help: QuantType.help) var quant: QuantType = .q8_0

    var threads: Int? { threadsOption.threads }

    func overrides() throws -> TrainingOverrides {
        var o = TrainingOverrides()
        o.rank = rank; o.alpha = alpha; o.dropout = dropout
        if rslora { o.useRSLoRA = true }
        if quantAware { o.quantAware = true }
        if quantGrid { o.quantGrid = true }
        if dora { o.useDoRA = true }
        o.loraPlusRatio = loraPlusRatio
        if let targets { o.targets = try LoRAConfig.parseTargets([targets]) }
        o.learningRate = lr; o.schedule = schedule; o.warmupSteps = warmup; o.steps = steps; o.epochs = epochs
        o.batchSize = batchSize; o.sequenceLength = seqLen; o.gradientAccumulation = gradAccum
        o.weightDecay = weightDecay; o.maxGradNorm = maxGradNorm; o.maskPrompt = maskPrompt
        if packing { o.packing = true }
        o.seed = seed; o.threads = threads; o.evalInterval = evalInterval; o.evalBatches = evalBatches
        o.saveInterval = saveInterval; o.keepCheckpoints = keepCheckpoints; o.nonFiniteLimit = nonFiniteLimit
        o.checkpointing = checkpointing?.isOn; o.badLines = badLines; o.chatTemplate = chatTemplate; o.numa = numa
        o.precision = precision
        return o
    }

    func memoryCap() throws -> Int? {
        guard let maxMemory else { return nil }
        guard let cap = MemoryLimit.parseSize(maxMemory) else { throw ValidationError("--max-memory: cannot read '\(maxMemory)' (e.g. 6GB)") }
        return cap
    }

    func request(model: String, data: String, out: String, resume: TrainingRunRequest.Resume = .automatic) throws -> TrainingRunRequest {
        TrainingRunRequest(model: model, data: data, output: out, configFile: config, overrides: try overrides(), resume: resume,
                           memoryCap: try memoryCap(), quantizeTo: quant.ggml)
    }
}

/// The command-line spelling of a run setting named by the library (`AdmissionSuggestion.settings`).
enum SettingFlags {
    static let names: [String: String] = [
        "checkpointing": "--checkpointing", "batchSize": "--batch-size", "gradientAccumulation": "--grad-accum",
        "sequenceLength": "--seq-len", "lora.rank": "--rank", "lora.alpha": "--alpha", "quantization": "--quant",
    ]
    static func flags(_ settings: [AdmissionSuggestion.Setting]) -> String {
        settings.map { "\(names[$0.key] ?? $0.key) \($0.value)" }.joined(separator: " ")
    }
}

/// A runtime failure the CLI reports as "Error: message" with exit code 1 (the one error type of the CLI's own checks).
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ s: String) { description = s }
}

/// Writes "warning: …" lines to stderr.
func warn(_ s: String) { FileHandle.standardError.write(Data("warning: \(s)\n".utf8)) }
