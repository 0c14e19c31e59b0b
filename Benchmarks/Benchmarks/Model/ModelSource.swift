import Foundation
import LoRAKit

/// The weights the forward/train benchmarks run on, loaded once per benchmark process (so the
/// resident-memory peak of every benchmark includes the same weights whichever subset runs):
/// the model in LORAKIT_MODEL, else ~/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf,
/// else the smollm2-135m preset with random Q4_1 weights (same shapes, same block type).
enum ModelSource {
    /// Where the weights came from, for the benchmark output.
    nonisolated(unsafe) static var origin = "not loaded"

    /// The shared weights (the error names the file or the preset that failed).
    static var weights: ModelWeights {
        get throws { try cached.get() }
    }

    private static let cached: Result<ModelWeights, Error> = Result(catching: { try load() })

    private static func load() throws -> ModelWeights {
        let path = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
            ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        if FileManager.default.fileExists(atPath: path) {
            origin = path
            return try ModelWeights.load(path: path)
        }
        // Same as `lorakit bench --preset smollm2-135m`: synthesize a GGUF, load it, delete the file.
        let tmp = FileManager.default.temporaryDirectory
            .appendingPathComponent("lorakit-pkgbench-smollm2-\(getpid()).gguf").path
        _ = try SynthModel.write(SynthOptions(preset: .smollm2_135m, type: .q4_1), to: tmp)
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        origin = "preset smollm2-135m, random Q4_1 weights (\(path) not found)"
        return try ModelWeights.load(path: tmp)
    }
}
