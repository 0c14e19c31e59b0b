import Foundation

extension MemoryBudget {
    /// The budget as a terminal table: one line per term grouped by section, the predicted peak, and
    /// full fine-tuning with Adam for the same model and batch. Lines fit in 96 columns.
    public func report() -> String {
        var out: [String] = []
        let r = run
        out.append("memory budget: \(model) (\(quantization))")
        out.append("run: batch \(r.batchSize) × seq \(r.sequenceLength), LoRA r=\(r.rank) on \(targetsText)"
                   + (r.dropout > 0 ? " (dropout \(r.dropout))" : "")
                   + ", checkpointing \(r.checkpointing ? "on" : "off"), \(r.threads) thread\(r.threads == 1 ? "" : "s")")
        out.append("trainable params: \(MemoryBudget.grouped(trainableParameters)) of \(MemoryBudget.grouped(baseParameters)) "
                   + String(format: "(%.4f%%)", 100 * Double(trainableParameters) / Double(max(baseParameters, 1))))
        out.append("")
        let labelWidth = 36
        let peak = Double(max(peakBytes, 1))
        func share(_ bytes: Int) -> String {
            let p = 100 * Double(bytes) / peak
            let t = p >= 0.95 ? String(format: "%.0f%%", p) : p >= 0.05 ? String(format: "%.1f%%", p) : "<0.1%"
            return String(repeating: " ", count: max(0, 6 - t.count)) + t
        }
        func line(_ label: String, _ bytes: String, _ detail: String, pct: String = "      ") -> String {
            let l = label.count >= labelWidth ? String(label.prefix(labelWidth - 1)) + " " : label.padding(toLength: labelWidth, withPad: " ", startingAt: 0)
            let b = String(repeating: " ", count: max(0, 10 - bytes.count)) + bytes
            return ("  " + l + b + pct + "  " + detail).trimmingTrailing()
        }
        for section in MemoryTerm.Section.allCases {
            let ts = terms.filter { $0.section == section && $0.bytes > 0 }
            guard !ts.isEmpty else { continue }
            out.append(("\(section.title)" + String(repeating: " ", count: max(1, labelWidth + 2 - section.title.count))
                        + MemoryBudget.pad(ProcessMemory.format(bytes(in: section))) + share(bytes(in: section))).trimmingTrailing())
            for t in ts {
                let label = t.phase == .steady ? t.label : "(\(t.phase == .checkpoint ? "ckpt" : t.phase.rawValue)) \(t.label)"
                out.append(line(label, ProcessMemory.format(t.bytes), t.detail, pct: t.phase == .steady ? share(t.bytes) : "      "))
            }
        }
        out.append(String(repeating: "─", count: labelWidth + 20))
        let save = transientBytes
        let peakDetail = peakBytes > steadyBytes + save ? "while loading (training holds \(ProcessMemory.format(steadyBytes + save)))"
            : save > 0 ? "steady \(ProcessMemory.format(steadyBytes)) + \(ProcessMemory.format(save)) while saving" : ""
        out.append(line("predicted peak RSS", ProcessMemory.format(peakBytes), peakDetail, pct: "      "))
        if let perNode {
            for n in perNode {
                out.append(line("  on NUMA node \(n.node)", ProcessMemory.format(n.total),
                                "weights \(ProcessMemory.format(n.weightBytes)) + other \(ProcessMemory.format(n.otherBytes))"))
            }
        }
        out.append("")
        let f = fullFineTune
        out.append("full fine-tuning with Adam, same model and batch (\(MemoryBudget.grouped(f.parameters)) params):")
        out.append(line("fp32 weights+grads+m+v (16 B/param)", ProcessMemory.format(f.fp32StateBytes),
                        "+ activations \(ProcessMemory.format(f.activationBytes)) = \(ProcessMemory.format(f.fp32TotalBytes))"))
        out.append(line("mixed precision (16 B/param)", ProcessMemory.format(f.mixedStateBytes),
                        "+ bf16 activations \(ProcessMemory.format(f.activationBytes / 2)) = \(ProcessMemory.format(f.mixedTotalBytes))"))
        out.append(String(format: "this run needs %@: %.1f× less than full fine-tuning in fp32", ProcessMemory.format(peakBytes),
                          fullFineTuneRatio))
        return out.joined(separator: "\n")
    }

    /// The budget as pretty-printed JSON (keys sorted), with the derived totals included.
    public func json() throws -> String {
        struct Out: Encodable {
            let budget: MemoryBudget
            let steadyBytes: Int, peakBytes: Int, fullFineTuneRatio: Double
            let fullFineTuneFP32Bytes: Int, fullFineTuneMixedBytes: Int
            enum K: String, CodingKey { case steadyBytes, peakBytes, fullFineTuneRatio, fullFineTuneFP32Bytes, fullFineTuneMixedBytes }
            func encode(to e: Encoder) throws {
                try budget.encode(to: e)
                var c = e.container(keyedBy: K.self)
                try c.encode(steadyBytes, forKey: .steadyBytes)
                try c.encode(peakBytes, forKey: .peakBytes)
                try c.encode((fullFineTuneRatio * 100).rounded() / 100, forKey: .fullFineTuneRatio)
                try c.encode(fullFineTuneFP32Bytes, forKey: .fullFineTuneFP32Bytes)
                try c.encode(fullFineTuneMixedBytes, forKey: .fullFineTuneMixedBytes)
            }
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let d = try enc.encode(Out(budget: self, steadyBytes: steadyBytes, peakBytes: peakBytes, fullFineTuneRatio: fullFineTuneRatio,
                                   fullFineTuneFP32Bytes: fullFineTune.fp32TotalBytes, fullFineTuneMixedBytes: fullFineTune.mixedTotalBytes))
        return String(decoding: d, as: UTF8.self)
    }

    /// One line after a run: predicted against measured peak resident memory.
    public func comparisonLine(measuredPeak: Int) -> String {
        let err = 100 * (Double(peakBytes) - Double(measuredPeak)) / Double(max(measuredPeak, 1))
        return String(format: "peak RSS: predicted %@, measured %@ (%+.1f%%)", ProcessMemory.format(peakBytes),
                      ProcessMemory.format(measuredPeak), err)
    }

    var targetsText: String {
        run.targets.count == LoRATarget.allCases.count ? "all-linear" : run.targets.joined(separator: ",")
    }

    static func pad(_ s: String) -> String { String(repeating: " ", count: max(0, 10 - s.count)) + s }
}

extension MemoryTerm.Section {
    var title: String {
        switch self {
        case .model: return "model"
        case .adapter: return "LoRA adapter + AdamW"
        case .activations: return "activations"
        case .scratch: return "scratch"
        case .runtime: return "runtime"
        }
    }
}

extension String {
    fileprivate func trimmingTrailing() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}

/// Predicted against measured peak resident memory of a finished run (`memory.json` in the run folder).
public struct MemoryBudgetRecord: Codable, Sendable, Equatable {
    public var budget: MemoryBudget
    public var predictedPeakBytes: Int
    /// VmHWM (or ru_maxrss) at the end of the run.
    public var measuredPeakBytes: Int
    /// 100 · (predicted − measured) / measured.
    public var errorPercent: Double

    public init(budget: MemoryBudget, measuredPeakBytes: Int) {
        self.budget = budget
        predictedPeakBytes = budget.peakBytes
        self.measuredPeakBytes = measuredPeakBytes
        errorPercent = 100 * (Double(budget.peakBytes) - Double(measuredPeakBytes)) / Double(max(measuredPeakBytes, 1))
    }

    /// Writes the record as pretty-printed JSON.
    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        // Our own atomic writer: Foundation's `.atomic` leaves empty /tmp/TemporaryDirectory.* folders on Linux.
        try RunDirectory.writeAtomically(enc.encode(self), to: path)
    }
}
