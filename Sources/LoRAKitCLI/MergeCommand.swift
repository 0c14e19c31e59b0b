import ArgumentParser
import Foundation
import LoRAKit

struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Fold a LoRA adapter into the base: W0 + scale·B·A per adapted matrix, written as GGUF or a Hugging Face folder.",
        discussion: """
            One matrix at a time is dequantized, merged and stored (memory stays bounded). GGUF output copies all \
            metadata (tokenizer, chat template) and every untouched tensor as is; merged matrices get --type \
            ("same" = the base's block type; "auto", the default, keeps the base's type for a matrix when at least 90% \
            of the adapter's change survives it, else Q8_0). A quant-aware adapter (train --quant-aware) is written \
            into the block offsets: exactly into Q4_1/Q5_1 (auto turns Q4_0/Q5_0 and Q4_K/Q5_K into Q4_1/Q5_1 with the \
            same codes; --type same refits Q4_K/Q5_K's 6-bit mins in place, which loses part of it; --calibration DATA \
            weights that refit by how the model's inputs use each sub-block). HF output (--format hf) \
            is a folder with config.json, model.safetensors (F32, F16 or BF16; q/k rows in HF order) and tokenizer \
            files. Prints each merged matrix's relative Frobenius error and how much of the adapter's change \
            survived: <Wmerged - W0, dW> / |dW|^2 (1 = all of it), per matrix and overall.
            """)

    @Option(help: "Base model: a .gguf file (or a Hugging Face folder for --format hf).") var model: String
    @Option(help: "PEFT adapter folder.") var adapter: String
    @Option(help: "Output .gguf file or HF folder.") var out: String
    @Option(help: "Type of the merged matrices: auto (default for GGUF: the base's type where ≥ 90% of the adapter's change survives it, else q8_0; a quant-aware adapter goes into q4_1/q5_1 offsets), same, q8_0, q6_k, q5_k, q5_1, q5_0, q4_k, q4_1, q4_0, f16, bf16, f32 (K-quants fall back to q5_0/q5_1/q8_0 for rows not of 256, as llama-quantize does; HF: f32, f16, bf16).") var type: String?
    @Option(help: "gguf or hf (default: gguf when --out ends in .gguf, else hf).") var format: String?
    @Option(help: "Calibration data (JSONL in any format train accepts, or a data folder: its train split) for a quant-aware adapter merged into Q4_K/Q5_K in place (--type same): the adapted model runs over it and the refit of the 6-bit mins is weighted by how each layer's input uses each sub-block.") var calibration: String?
    @Option(help: "Calibration examples to run (one sequence each, up to 512 tokens).") var calibrationSequences = MergeCalibration.defaultSequences
    @OptionGroup var threads: ThreadsOption
    @Flag(help: "Print one JSON object with the per-matrix reports.") var json = false

    func run() throws {
        let fmt: MergeFormat
        if let format {
            guard let f = MergeFormat(rawValue: format.lowercased()) else { throw ValidationError("--format must be gguf or hf") }
            fmt = f
        } else {
            fmt = out.lowercased().hasSuffix(".gguf") ? .gguf : .hf
        }
        try OutputPath.checkDistinct(output: out, inputs: [model, adapter])
        let w = try ModelWeights.load(path: model)
        let p = try LoRAParameters.loadPEFT(from: adapter, model: w.config)
        let pool = ThreadPool(threads: threads.threads ?? ThreadPool.defaultThreadCount)
        let show: (MergedMatrixReport) -> Void = { r in
            if !json {
                let name = r.name.padding(toLength: max(44, r.name.count), withPad: " ", startingAt: 0)
                let type = r.type.padding(toLength: 5, withPad: " ", startingAt: 0)
                let kept = r.survived.map { String(format: "   survived %5.1f%%", 100 * $0) + (r.offsets ? " (offsets)" : "") } ?? ""
                print(name + " " + type + String(format: " rel.err %.3e   |dW|/|W0| %.3e", r.relativeError, r.relativeDelta) + kept)
            }
        }
        let start = Date()
        let reports: [MergedMatrixReport]
        do {
            switch fmt {
            case .gguf:
                let t = try MergeType(name: type ?? "auto")
                var calib: MergeCalibration?
                if let calibration {
                    calib = try MergeCalibration.measure(model: w, adapter: p, dataPath: calibration, tokenizer: try Tokenizer(modelPath: model),
                                                         maxSequences: calibrationSequences, pool: pool) { done, total in
                        if !json, done == total || done % 8 == 0 { print("calibration: \(done)/\(total) sequences") }
                    }
                    if !json, let calib { print("calibration: \(calib.tokens) tokens, moments of \(calib.moments.count) matrices") }
                }
                reports = try LoRAMerge.writeGGUF(model: w, adapter: p, to: out, type: t, calibration: calib, pool: pool, onMatrix: show)
            case .hf:
                if calibration != nil { throw ValidationError("--calibration applies to GGUF output (the in-place Q4_K/Q5_K refit)") }
                let name = (type ?? "f32").lowercased()
                guard let t = GGMLType(name: name), [.f32, .f16, .bf16].contains(t) else {
                    throw ValidationError("--type for --format hf must be f32, f16 or bf16 (got '\(name)')")
                }
                reports = try LoRAMerge.writeHF(model: w, adapter: p, to: out, dtype: t, pool: pool, onMatrix: show)
            }
        } catch let e as MergeError {
            throw ValidationError(e.description)
        } catch let e as DatasetError {
            throw ValidationError("calibration data: \(e.description)")
        }
        let overall = LoRAMerge.overallSurvival(reports)
        let worst = reports.map(\.relativeError).max() ?? 0
        let mean = reports.isEmpty ? 0 : reports.map(\.relativeError).reduce(0, +) / Double(reports.count)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            struct Summary: Encodable { var out: String; var format: String; var survived: Double?; var matrices: [MergedMatrixReport] }
            print(String(decoding: try enc.encode(Summary(out: out, format: fmt.rawValue, survived: overall, matrices: reports)), as: UTF8.self))
        } else {
            if let overall {
                let types = Set(reports.map(\.type)).sorted().joined(separator: ", ")
                print("adapter change survived: " + String(format: "%.1f%%", 100 * overall) + " overall (types: \(types))")
            }
            print("merged \(reports.count) matrices into \(out) (\(fmt.rawValue)) in "
                + String(format: "%.1f s; relative error mean %.3e, max %.3e", Date().timeIntervalSince(start), mean, worst))
        }
        if let overall, overall < LoRAMerge.mostLostSurvival {
            FileHandle.standardError.write(Data(String(format: "warning: only %.0f%% of the adapter's change survived requantization; "
                + "merge with --type q8_0 or f16, or train with --quant-aware to merge into 4-bit offsets\n", 100 * overall).utf8))
        }
    }
}
