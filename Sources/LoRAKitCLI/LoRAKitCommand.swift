import ArgumentParser
import LoRAKit

@main
struct LoRAKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lorakit",
        abstract: "Fine-tune Llama-family models with LoRA on CPUs, the base kept quantized.",
        version: LoRAKit.version,
        subcommands: [TrainCommand.self, EvalCommand.self, CPUCommand.self, InspectCommand.self, TokenizeCommand.self, TopologyCommand.self, ExportAdapterCommand.self, GenerateCommand.self, MergeCommand.self, BudgetCommand.self, SynthCommand.self, AnalyzeCommand.self, BenchCommand.self])
}
