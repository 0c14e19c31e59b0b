import ArgumentParser
import Foundation
import LoRAKit

struct CPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cpu", abstract: "Show the CPU features and the kernels LoRAKit will use.")

    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let info = CPUInfo.current
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try enc.encode(info), as: UTF8.self))
        } else {
            print("features:    \(info.featureNames.joined(separator: " "))")
            print("best ISA:    \(info.bestISA.rawValue)")
            print("kernels use: \(info.activeISA.rawValue)  (override with LORAKIT_ISA=scalar|avx2|avx512|neon)")
        }
    }
}
