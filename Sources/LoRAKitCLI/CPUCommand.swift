import ArgumentParser
import Foundation
import LoRAKit

struct CPUCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cpu", abstract: "Show the CPU features and the kernels LoRAKit will use.")

    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Also time the fp32, bf16 and int8 product instructions on one core (about 2 s): the ceiling of each precision's products per thread.") var peak = false

    func run() throws {
        let info = CPUInfo.current
        if json {
            let enc = JSONEncoder(); enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            if peak {
                struct Out: Encodable { var cpu: CPUInfo; var peaks: [InstructionPeak] }
                print(String(decoding: try enc.encode(Out(cpu: info, peaks: InstructionPeak.measureAll())), as: UTF8.self))
            } else {
                print(String(decoding: try enc.encode(info), as: UTF8.self))
            }
        } else {
            print("features:    \(info.featureNames.joined(separator: " "))")
            print("best ISA:    \(info.bestISA.rawValue)")
            print("kernels use: \(info.activeISA.rawValue)  (override with LORAKIT_ISA=scalar|avx2|avx512|neon)")
            if peak {
                print("instruction peaks per core (register-only loops, the ceiling of each precision's products):")
                for p in InstructionPeak.measureAll() {
                    let v = p.opsPerSecond > 0 ? String(format: "%7.1f G%@/s", p.opsPerSecond / 1e9, p.precision == .int8 ? "OP" : "FLOP") : "  none"
                    print("  \(p.precision.rawValue.padding(toLength: 5, withPad: " ", startingAt: 0)) \(v)  \(p.instruction)")
                }
            }
        }
    }
}
