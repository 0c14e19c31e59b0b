import Benchmark
import Foundation
import LoRAKit

/// Tokenizer speed: 10 MB of mixed text (English, code, numbers, CJK, emoji, whitespace runs,
/// special tokens) encoded on one core. Uses the model in LORAKIT_MODEL (default: the SmolLM2
/// GGUF in ~/.cache/lorakit/models), else the SmolLM2 tokenizer.json test fixture.
func tokenizerBenchmarks() {
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../Tests/Fixtures/tokenizer/smollm2/tokenizer.json").standardized.path
    let model = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
        ?? (NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    let path = FileManager.default.fileExists(atPath: model) ? model : fixture
    guard let tokenizer = try? Tokenizer(modelPath: path) else {
        print("tokenizer benchmark skipped: cannot load \(path)")
        return
    }
    let text = mixedText(bytes: 10_000_000, seed: 7)

    Benchmark("tokenize 10 MB mixed text (SmolLM2)",
              configuration: .init(metrics: [.wallClock, .throughput, .peakMemoryResident],
                                   maxDuration: .seconds(30), maxIterations: 3)) { benchmark in
        for _ in benchmark.scaledIterations {
            // A fresh tokenizer each time so the word cache starts cold.
            let fresh = try Tokenizer(tokenizer.vocabulary)
            benchmark.startMeasurement()
            blackHole(fresh.encode(text))
            benchmark.stopMeasurement()
        }
    }
}

/// Deterministic mixed text of about `bytes` UTF-8 bytes.
func mixedText(bytes: Int, seed: UInt64) -> String {
    var rng = DataShuffleRNG(seed: seed)
    let words = ["the", "model", "learns", "quickly", "when", "gradients", "flow", "through", "adapters", "and",
                 "weights", "stay", "frozen", "Hello", "world", "don't", "it's", "CPU", "LoRA", "tokenizer"]
    let pieces = ["def f(x):\n    return x * 2\n", "for (int i = 0; i < n; ++i) { s += a[i]; }\n",
                  "机器学习是人工智能的一个分支。", "東京は日本の首都です。", "😀👍🏽👨‍👩‍👧", "Ünïcödé café naïve",
                  "<|im_start|>user\nhi<|im_end|>\n", "\t\t  \n\n   ", "e\u{301}a\u{300}", "Привет, мир!"]
    var out = ""
    out.reserveCapacity(bytes + 1024)
    var n = 0
    while n < bytes {
        let r = rng.below(100)
        var s: String
        if r < 60 {
            s = words[rng.below(words.count)] + " "
            if rng.below(8) == 0 {   // a made-up word, so not everything hits the cache
                s = String((0..<(3 + rng.below(9))).map { _ in Character(Unicode.Scalar(UInt8(97 + rng.below(26)))) }) + " "
            }
        } else if r < 75 {
            s = String(rng.below(1_000_000)) + (rng.below(2) == 0 ? "." : ", ")
        } else if r < 90 {
            s = pieces[rng.below(pieces.count)]
        } else if r < 98 {
            s = rng.below(2) == 0 ? ".\n" : "; "
        } else {
            s = String(repeating: " ", count: 1 + rng.below(200)) + "x "
        }
        n += s.utf8.count
        out += s
    }
    return out
}
