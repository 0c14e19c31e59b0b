import ArgumentParser
import LoRAKit

@main
struct LoRAKitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lorakit",
        abstract: "Fine-tune LLMs with LoRA on CPUs, the base kept quantized.",
        version: LoRAKit.version,
        subcommands: [TrainCommand.self, EvalCommand.self, CPUCommand.self, InspectCommand.self, TokenizeCommand.self, TopologyCommand.self, ExportAdapterCommand.self, GenerateCommand.self, MergeCommand.self, BudgetCommand.self, SynthCommand.self, AnalyzeCommand.self, BenchCommand.self, CombineCommand.self])

    static func main() {
        let args: [String]
        do { args = try CommandLineCheck.normalize(Array(CommandLine.arguments.dropFirst())) } catch {
            exit(withError: error)
        }
        main(args)
    }
}
