import ArgumentParser
import Foundation
import LoRAKit

struct SynthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a GGUF model of a preset's exact shapes with random weights (streamed to disk), for sizing and testing without downloads.")

    @Option(help: "Architecture: \(ModelPreset.allCases.map(\.rawValue).joined(separator: ", ")).") var preset: String
    @Option(help: "Block type of the matrices: q8_0 (default), q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k (f16, f32 for small tests).") var quant: String = "q8_0"
    @Option(help: "Output .gguf file.") var out: String
    @Option(help: "Random seed of the weights.") var seed: UInt64 = 0
    @Option(help: "Number of transformer blocks (default: the preset's), to shrink the model for tests.") var layers: Int?
    @Option(help: "A tokenizer.json (or a folder with one, or a .gguf) whose vocabulary the file carries; none if omitted.")
    var tokenizer: String?
    @Flag(help: "Then load the file (memory-mapped) and report resident memory after loading and after reading every weight once.")
    var loadCheck = false
    @Flag(help: "Skip writing: run the load check on the existing --out file.") var checkOnly = false

    func run() throws {
        let p = try ModelPreset.named(preset)
        guard let type = GGMLType(name: quant) ?? GGMLType(name: quant.uppercased()) else {
            throw ValidationError("unknown --quant '\(quant)' (q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, f16, f32)")
        }
        if let layers, layers < 1 { throw ValidationError("--layers must be at least 1") }
        if checkOnly {
            let size = (try FileManager.default.attributesOfItem(atPath: out)[.size] as? NSNumber)?.intValue ?? 0
            return try checkLoad(fileBytes: size)
        }
        let vocab = try tokenizer.map { try BPEVocabulary(modelPath: $0) }
        let o = SynthOptions(preset: p, type: type, seed: seed, layers: layers, vocabulary: vocab)
        let start = Date()
        let bytes = try SynthModel.write(o, to: out)
        let secs = Date().timeIntervalSince(start)
        print(String(format: "wrote %@: %@ %d layers, %@, %.2f GB in %.1f s (%.0f MB/s)", out, p.rawValue,
                     o.config.blockCount, "\(type)", Double(bytes) / 1e9, secs, Double(bytes) / 1e6 / max(secs, 1e-9)))
        if loadCheck { try checkLoad(fileBytes: bytes) }
    }

    /// Loads the model and prints RSS split into heap (anonymous) and mapped-file pages: after the load
    /// the weights are only mapped, after a pass over every matrix they are resident once, as file pages.
    func checkLoad(fileBytes: Int) throws {
        print("before load: \(Self.memoryLine())")
        let t0 = Date()
        let w = try ModelWeights.load(path: out)
        let tok = try Tokenizer(modelPath: out)
        print(String(format: "after load (%.2f s, %d tokens): %@", Date().timeIntervalSince(t0), tok.vocabulary.count, Self.memoryLine()))
        var sum: UInt64 = 0
        for m in [w.tokenEmbedding, w.lmHead] + w.layers.flatMap({ $0.matrices.map(\.matrix) }) {
            m.withUnsafeBytes { p in
                var i = 0
                while i < m.byteCount { sum &+= UInt64(p.load(fromByteOffset: i, as: UInt8.self)); i += 4096 }
            }
        }
        print(String(format: "after reading every weight page (checksum %llu): %@; file %.2f GB", sum, Self.memoryLine(), Double(fileBytes) / 1e9))
        withExtendedLifetime(w) {}
    }

    /// RSS, its anonymous and file-backed parts, and the peak, from /proc/self/status (Linux).
    static func memoryLine() -> String {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else {
            return "RSS \(ProcessMemory.format(ProcessMemory.residentBytes()))"
        }
        var v: [String: Int] = [:]
        for line in s.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == " " || $0 == "\t" })
            if parts.count >= 2, let kb = Int(parts[1]) { v[String(parts[0])] = kb * 1024 }
        }
        func gb(_ k: String) -> String { String(format: "%.2f GB", Double(v[k] ?? 0) / 1e9) }
        return "RSS \(gb("VmRSS")) (anonymous \(gb("RssAnon")), mapped file \(gb("RssFile"))), peak \(gb("VmHWM"))"
    }
}
