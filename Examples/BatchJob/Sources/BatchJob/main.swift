import Foundation
import LoRAKit

// Usage: BatchJob MODEL.gguf OUT_DIR DATA_DIR [DATA_DIR...]
// Fine-tunes one LoRA adapter per dataset over a single loaded base model, in sequence, and
// writes OUT_DIR/<dataset name>/ (adapter/ in PEFT format, metrics, checkpoints). Each run goes
// through the same library call as `lorakit train` (TrainingRun): rerunning the job resumes
// unfinished runs from their checkpoints. Steps can be set with BATCHJOB_STEPS.
let args = CommandLine.arguments
guard args.count >= 4 else {
    FileHandle.standardError.write(Data("usage: BatchJob MODEL.gguf OUT_DIR DATA_DIR [DATA_DIR...]\n".utf8))
    exit(2)
}
let (modelPath, outDir, datasets) = (args[1], args[2], Array(args[3...]))
let steps = Int(ProcessInfo.processInfo.environment["BATCHJOB_STEPS"] ?? "") ?? 30

do {
    let model = try ModelWeights.load(path: modelPath)        // memory-mapped once, shared by every run
    let tokenizer = try Tokenizer(modelPath: modelPath)
    for data in datasets {
        let name = (data as NSString).lastPathComponent
        var settings = TrainingOverrides()
        settings.rank = 8; settings.alpha = 16; settings.targets = [.q_proj, .v_proj]
        settings.learningRate = 1e-3; settings.steps = steps; settings.batchSize = 4; settings.sequenceLength = 64
        settings.evalBatches = 4
        let request = TrainingRunRequest(model: modelPath, data: data, output: "\(outDir)/\(name)", overrides: settings)
        let result = try TrainingRun(request, model: model, tokenizer: tokenizer).run { event in
            if case .training(.step(let m)) = event, m.step % 10 == 0 { print("[\(name)] step \(m.step)/\(m.totalSteps) loss \(m.loss)") }
            if case .warning(let w) = event { print("[\(name)] warning: \(w)") }
            return .proceed   // return .stop to end the run early: a checkpoint and the adapter are saved
        }
        let s = result.summary
        print("[\(name)] \(s.steps) steps, validation loss \(s.firstValidLoss ?? .nan) -> \(s.lastValidLoss ?? .nan), saved \(result.adapterPath)")
    }
} catch {
    FileHandle.standardError.write(Data("BatchJob: \(error)\n".utf8))
    exit(1)
}
