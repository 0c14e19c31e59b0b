import Foundation
import LoRAKit

// Usage: BatchJob MODEL.gguf OUT_DIR DATA_DIR [DATA_DIR...]
// Fine-tunes one LoRA adapter per dataset over a single loaded base model, in sequence, and
// writes OUT_DIR/<dataset name>/adapter (PEFT format). Steps can be set with BATCHJOB_STEPS.
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
        var config = TrainingConfig(lora: LoRAConfig(rank: 8, alpha: 16, targets: [.q_proj, .v_proj]),
                                    learningRate: 1e-3, steps: steps, batchSize: 4, sequenceLength: 64)
        config.evalBatches = 4
        let trainingData = try TrainingData(path: data, tokenizer: tokenizer, options: config.datasetOptions)
        let trainer = try LoRATrainer(model: model, config: config)
        let summary = try trainer.train(trainingData) { event in
            if case .step(let m) = event, m.step % 10 == 0 { print("[\(name)] step \(m.step)/\(m.totalSteps) loss \(m.loss)") }
            return .proceed   // return .stop to end the run early; the factors keep the last completed step
        }
        let adapterDir = "\(outDir)/\(name)/adapter"
        try trainer.parameters.savePEFT(to: adapterDir, model: model.config, baseModelName: modelPath)
        print("[\(name)] \(summary.steps) steps, validation loss \(summary.firstValidLoss ?? .nan) -> \(summary.lastValidLoss ?? .nan), saved \(adapterDir)")
    }
} catch {
    FileHandle.standardError.write(Data("BatchJob: \(error)\n".utf8))
    exit(1)
}
