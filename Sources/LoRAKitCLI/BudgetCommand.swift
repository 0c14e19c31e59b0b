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
    @Option(help: "Architecture preset: \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")) (weights of --quant's type).") var preset: String?
    @Option(help: "Training data (JSONL file or folder), for the dataset term.") var data: String?
    @OptionGroup var settings: TrainingOptions
    @Flag(help: "Print one JSON object.") var json = false

    func run() throws {
        guard (model == nil) != (preset == nil) else { throw ValidationError("give either --model or --preset") }
        // The same request `lorakit train` builds from the same options, so the same plan and prediction.
        let request = try settings.request(model: model ?? "", data: data ?? "", out: "")
        let footprint = try preset.map { name -> ModelFootprint in
            let p = try ModelPreset.named(name)
            return ModelFootprint.preset(config: p.config, name: p.rawValue, quantization: settings.quant.ggml)
        }
        let decision = try TrainingRun.plan(request, footprint: footprint)
        if json {
            print(try decision.budget.json())
        } else {
            Self.printPlan(decision)
        }
        if !decision.fits {
            fflush(stdout)
            do { try Admission.enforce(decision) } catch let e as AdmissionError {
                FileHandle.standardError.write(Data("error: \(e.describe { SettingFlags.flags($0.settings) })\n".utf8))
            }
            throw ExitCode(1)
        }
    }

    /// The budget table, automatic choices and the memory available: what `budget` prints and what
    /// `train` prints before it starts (the same text for the same settings).
    static func printPlan(_ d: AdmissionDecision) {
        print(d.budget.report())
        for n in d.notes { print("note: \(n)") }
        print(availabilityLine(d))
    }

    static func availabilityLine(_ d: AdmissionDecision) -> String {
        guard let a = d.available else { return "available memory: unknown" }
        return "available: \(ProcessMemory.format(a)) (\(d.limitSource)) — " + (d.fits ? "fits" : "does NOT fit")
    }
}
