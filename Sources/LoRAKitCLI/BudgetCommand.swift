import ArgumentParser
import Foundation
import LoRAKit

struct BudgetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "budget",
        abstract: "Show the memory a LoRA training run will need, term by term, without loading any weights.",
        discussion: """
            Give a model (--model: a .gguf file, read from its header only, or a Hugging Face folder, from config.json) \
            or a preset (--preset llama-3.1-8b --quant q4_0). The table lists base weights as stored, the LoRA factors, \
            their gradients, AdamW m and v, activations kept for backward, the backward working set, the LM-head chunk, \
            dequantization and attention scratch, and measured runtime costs; then full fine-tuning with Adam for the \
            same model and batch. The exit status is 1 when the run does not fit the memory available \
            (cgroup limit, MemAvailable, --max-memory); the changes that would fit are listed.
            """)

    @Option(help: "Model: a .gguf file or a Hugging Face folder (metadata only).") var model: String?
    @Option(help: "Architecture preset: \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")).") var preset: String?
    @Option(help: "Weight block type for --preset and HF folders: q8_0, q4_0 or q4_1.") var quant: String = "q8_0"
    @Option(help: "JSON training configuration (run_config.json format); flags override it.") var config: String?
    @Option(help: "LoRA rank.") var rank: Int?
    @Option(help: "Target modules (PEFT names, comma-separated) or all-linear.") var targets: String?
    @Option(help: "LoRA dropout probability.") var dropout: Float?
    @Option(help: "Sequences per micro-batch.") var batchSize: Int?
    @Option(help: "Tokens per sequence.") var seqLen: Int?
    @Option(help: "Gradient checkpointing: on or off.") var checkpointing: String?
    @Option(help: "Worker threads (default: one per allowed core).") var threads: Int?
    @Option(help: "Training data (JSONL file or folder), for the dataset term.") var data: String?
    @Option(help: "Memory cap, e.g. 6GB or 512MiB; checkpointing is chosen automatically to stay under it.") var maxMemory: String?
    @Option(help: "NUMA mode for per-node totals: auto, distribute, isolate, off.") var numa: String?
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        guard (model == nil) != (preset == nil) else { throw ValidationError("give either --model or --preset") }
        guard let q = GGMLType.loadType(quant) else { throw ValidationError("--quant must be q8_0, q4_0 or q4_1") }
        let footprint: ModelFootprint
        if let preset {
            let p = try ModelPreset.named(preset)
            footprint = ModelFootprint.preset(config: p.config, name: p.rawValue, quantization: q)
        } else {
            footprint = try ModelFootprint.read(path: model!, quantizeTo: q)
        }
        let cfg = try resolvedConfig()
        var limit = MemoryLimit.current()
        if let maxMemory {
            guard let cap = MemoryLimit.parseSize(maxMemory) else { throw ValidationError("--max-memory: cannot read '\(maxMemory)' (e.g. 6GB)") }
            limit.userCap = cap
        }
        let dataBytes = data.map { MemoryBudget.dataBytes(path: $0) } ?? 0
        let decision = Admission.decide(model: footprint, config: cfg, limit: limit, threads: threads, dataBytes: dataBytes,
                                        autoCheckpointing: maxMemory != nil && checkpointing == nil)
        var budget = decision.budget
        if let numa {
            guard let mode = NUMAMode(rawValue: numa) else { throw ValidationError("--numa must be auto, distribute, isolate or off") }
            let plan = try NUMAPlan.make(topology: NUMATopology.current(), threads: budget.run.threads, mode: mode)
            budget = MemoryBudget.estimate(model: footprint, config: decision.config, threads: budget.run.threads, dataBytes: dataBytes,
                                           numa: plan)
        }
        if json {
            print(try budget.json())
        } else {
            print(budget.report())
            print("")
            for n in decision.notes { print("note: \(n)") }
            print(Self.availabilityLine(decision))
        }
        if !decision.fits {
            fflush(stdout)
            do { try Admission.enforce(decision) } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
            }
            throw ExitCode(1)
        }
    }

    static func availabilityLine(_ d: AdmissionDecision) -> String {
        guard let a = d.available else { return "available memory: unknown" }
        return "available: \(ProcessMemory.format(a)) (\(d.limitSource)) — " + (d.fits ? "fits" : "does NOT fit")
    }

    func resolvedConfig() throws -> TrainingConfig {
        var c = TrainingConfig()
        if let config {
            guard let d = FileManager.default.contents(atPath: config) else { throw CLIError("cannot read config file \(config)") }
            do { c = try JSONDecoder().decode(TrainingConfig.self, from: d) } catch {
                throw CLIError("config file \(config): \(describeDecoding(error))")
            }
        }
        if let rank { c.lora.rank = rank }
        if let targets { c.lora.targets = try LoRAConfig.parseTargets([targets]) }
        if let dropout { c.lora.dropout = dropout }
        if let batchSize { c.batchSize = batchSize }
        if let seqLen { c.sequenceLength = seqLen }
        if let threads { c.threads = threads }
        if let checkpointing {
            switch checkpointing {
            case "on", "true", "layer": c.checkpointing = true
            case "off", "false", "none": c.checkpointing = false
            default: throw ValidationError("--checkpointing must be on or off")
            }
        }
        try c.validate()
        return c
    }
}

extension GGMLType {
    /// q8_0, q4_0 or q4_1 (the types weights can be quantized to at load).
    static func loadType(_ s: String) -> GGMLType? {
        switch s.lowercased() {
        case "q8_0": return .q8_0
        case "q4_0": return .q4_0
        case "q4_1": return .q4_1
        default: return nil
        }
    }
}
