import Foundation
import LoRAKit

/// Training progress: one live line redrawn in place on a terminal, plain periodic lines in a pipe.
final class ProgressDisplay {
    let plain: Bool
    private var lastPlain = Date.distantPast
    private var live = false

    init(plain: Bool) { self.plain = plain }

    func show(_ event: TrainingEvent) {
        switch event {
        case .step(let m):
            let line = ProgressDisplay.format(m)
            if plain {
                // Every step for short runs, otherwise at most every 5 s, and always the last step.
                if m.totalSteps <= 50 || m.step == m.totalSteps || Date().timeIntervalSince(lastPlain) >= 5 || m.skipped {
                    print(line)
                    fflush(stdout)
                    lastPlain = Date()
                }
            } else {
                let width = 28
                let filled = Int(Double(width) * Double(m.step) / Double(max(1, m.totalSteps)))
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                print("\r\u{1B}[2K\(bar) \(line)", terminator: "")
                fflush(stdout)
                live = true
            }
        case .eval(let e):
            if live { print("") ; live = false }
            print(String(format: "eval  step %d: validation loss %.4f (ppl %.2f, %d tokens)", e.step, e.loss, e.perplexity, e.targets))
            fflush(stdout)
        }
    }

    func finish() {
        if live { print(""); live = false }
    }

    static func format(_ m: StepMetrics) -> String {
        String(format: "step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  %@ elapsed  ETA %@  RSS %@%@",
               m.step, m.totalSteps, m.loss, Double(m.learningRate), m.tokensPerSecond, duration(m.elapsed), duration(m.eta),
               ProcessMemory.format(m.residentBytes), m.skipped ? "  (skipped: non-finite)" : "")
    }

    static func duration(_ s: Double) -> String {
        guard s.isFinite else { return "?" }
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%dh%02dm", t / 3600, (t % 3600) / 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}

