import Foundation

/// A change to a run that makes its budget fit.
public struct AdmissionSuggestion: Codable, Sendable, Equatable {
    /// One setting to change: its key in run_config.json (`checkpointing`, `batchSize`, `lora.rank`,
    /// or `quantization` for the weights' block type) and the new value.
    public struct Setting: Codable, Sendable, Equatable {
        public var key: String
        public var value: String
    }
    /// What to change, in words (`checkpointing on, batch size 2, gradient accumulation 2`).
    public var change: String { settings.map { "\(AdmissionSuggestion.words[$0.key] ?? $0.key) \($0.value)" }.joined(separator: ", ") }
    public var settings: [Setting]
    /// The run with the change applied.
    public var config: TrainingConfig
    /// Block type to load the weights as, when the change is "4-bit instead of 8-bit".
    public var quantization: String?
    public var peakBytes: Int

    static let words = ["checkpointing": "checkpointing", "batchSize": "batch size", "gradientAccumulation": "gradient accumulation",
                        "sequenceLength": "sequence length", "lora.rank": "rank", "lora.alpha": "alpha", "quantization": "weights"]
}

/// Whether a run fits the memory available, decided before anything is allocated.
public struct AdmissionDecision: Sendable, Equatable {
    public var fits: Bool
    /// The budget of the run as it will start (after any automatic choice).
    public var budget: MemoryBudget
    /// The run as it will start: `config` with checkpointing chosen when allowed.
    public var config: TrainingConfig
    /// Bytes the run may use (nil: unknown, the run is admitted).
    public var available: Int?
    /// What limits `available` (`MemAvailable`, `cgroup limit …`, `--max-memory`).
    public var limitSource: String
    /// Automatic choices made ("checkpointing on: …").
    public var notes: [String]
    /// Cheapest changes that would fit, cheapest first (empty when the run fits).
    public var suggestions: [AdmissionSuggestion]
}

/// Refusal of a run whose plan exceeds the memory available.
public enum AdmissionError: Error, CustomStringConvertible, Equatable {
    case doesNotFit(needed: Int, available: Int, limitSource: String, suggestions: [AdmissionSuggestion])

    public var description: String { describe { $0.change } }

    /// The message with each suggested change spelled by `spell` (the CLI spells them as flags).
    public func describe(_ spell: (AdmissionSuggestion) -> String) -> String {
        guard case .doesNotFit(let need, let avail, let src, let suggestions) = self else { return "" }
        let sug = suggestions.map { "\(spell($0))  → \(ProcessMemory.format($0.peakBytes))" }
        var s = "this run needs \(ProcessMemory.format(need)) at its peak but only \(ProcessMemory.format(avail)) is available (\(src)); nothing was allocated."
        if sug.isEmpty {
            s += "\nno single change found that fits; try a smaller model."
        } else {
            s += "\nchanges that would fit, cheapest first:"
            for x in sug { s += "\n  " + x }
        }
        return s
    }
}

/// Admission control: compares a run's predicted peak with the memory available and proposes changes.
public enum Admission {
    /// Decides whether `config` on `model` fits `limit` (`checkpoints`, `resuming`: as for `MemoryBudget.estimate`). With `autoCheckpointing`, checkpointing is
    /// turned off when the run fits without it and on when it only fits with it.
    public static func decide(model: ModelFootprint, config: TrainingConfig, limit: MemoryLimit, ownResident: Int = 0,
                              threads: Int? = nil, dataBytes: Int = 0, autoCheckpointing: Bool = false,
                              checkpoints: Bool = true, resuming: Bool = false, numa: NUMAPlan? = nil) -> AdmissionDecision {
        let avail = limit.available(ownResident: ownResident)
        func budget(_ c: TrainingConfig, _ m: ModelFootprint = model) -> MemoryBudget {
            MemoryBudget.estimate(model: m, config: c, threads: threads, dataBytes: dataBytes, numa: numa, checkpoints: checkpoints,
                                  resuming: resuming)
        }
        var cfg = config
        var notes: [String] = []
        var b = budget(cfg)
        if autoCheckpointing, let avail {
            var off = cfg; off.checkpointing = false
            var on = cfg; on.checkpointing = true
            let bOff = budget(off)
            if bOff.peakBytes <= avail {
                cfg = off; b = bOff
            } else {
                cfg = on; b = budget(on)
                if b.peakBytes <= avail {
                    notes.append("checkpointing on: \(ProcessMemory.format(bOff.peakBytes)) without it exceeds \(ProcessMemory.format(avail)); "
                                 + "with it \(ProcessMemory.format(b.peakBytes)) (layers recomputed in backward, ~1.3× the compute)")
                }
            }
        }
        guard let avail, b.peakBytes > avail else {
            return AdmissionDecision(fits: true, budget: b, config: cfg, available: avail, limitSource: limit.limitingSource, notes: notes,
                                     suggestions: [])
        }
        return AdmissionDecision(fits: false, budget: b, config: cfg, available: avail, limitSource: limit.limitingSource, notes: notes,
                                 suggestions: suggestions(model: model, config: cfg, available: avail, budget: budget))
    }

    /// Changes that fit, cheapest first. "Cheap" means least effect on the result: checkpointing and a
    /// smaller micro-batch with gradient accumulation (same effective batch) only cost compute; 4-bit
    /// instead of 8-bit weights costs some precision of the frozen base; a shorter sequence truncates the
    /// data; a smaller rank shrinks the adapter. Each is tried alone and on top of checkpointing.
    static func suggestions(model: ModelFootprint, config: TrainingConfig, available: Int,
                            budget: (TrainingConfig, ModelFootprint) -> MemoryBudget) -> [AdmissionSuggestion] {
        var ranked: [(cost: Int, s: AdmissionSuggestion)] = []
        func fits(_ c: TrainingConfig, _ m: ModelFootprint = model) -> Int? {
            let p = budget(c, m).peakBytes
            return p <= available ? p : nil
        }
        typealias S = AdmissionSuggestion.Setting
        var bases: [(TrainingConfig, [S], Int)] = [(config, [], 0)]
        if !config.checkpointing {
            var on = config; on.checkpointing = true
            if let p = fits(on) {
                ranked.append((0, AdmissionSuggestion(settings: [.init(key: "checkpointing", value: "on")], config: on, quantization: nil, peakBytes: p)))
            }
            bases.append((on, [S(key: "checkpointing", value: "on")], 1))
        }
        for (base, prefix, extra) in bases {
            var b = base.batchSize / 2
            while b >= 1 {
                var c = base; c.batchSize = b; c.gradientAccumulation = base.gradientAccumulation * (base.batchSize / b)
                if let p = fits(c) {
                    ranked.append((1 + extra, AdmissionSuggestion(settings: prefix + [S(key: "batchSize", value: "\(b)"), S(key: "gradientAccumulation", value: "\(c.gradientAccumulation)")],
                                                                  config: c, quantization: nil, peakBytes: p)))
                    break
                }
                b /= 2
            }
            if model.quantizationSelectable, model.quantization == "Q8_0" {
                if let p = fits(base, model.requantized(to: .q4_1)) {
                    ranked.append((3 + extra, AdmissionSuggestion(settings: prefix + [S(key: "quantization", value: "q4_1")],
                                                                  config: base, quantization: "q4_1", peakBytes: p)))
                }
            }
            var s = base.sequenceLength / 2
            while s >= 16 {
                var c = base; c.sequenceLength = s
                if let p = fits(c) {
                    ranked.append((5 + extra, AdmissionSuggestion(settings: prefix + [S(key: "sequenceLength", value: "\(s)")], config: c, quantization: nil, peakBytes: p)))
                    break
                }
                s /= 2
            }
            var r = base.lora.rank / 2
            while r >= 1 {
                var c = base; c.lora.rank = r; c.lora.alpha = base.lora.alpha * Float(r) / Float(base.lora.rank)
                if let p = fits(c) {
                    ranked.append((7 + extra, AdmissionSuggestion(settings: prefix + [S(key: "lora.rank", value: "\(r)"), S(key: "lora.alpha", value: formatAlpha(c.lora.alpha))],
                                                                  config: c, quantization: nil, peakBytes: p)))
                    break
                }
                r /= 2
            }
        }
        return ranked.enumerated().sorted { ($0.element.cost, $0.offset) < ($1.element.cost, $1.offset) }.map(\.element.s)
    }

    static func formatAlpha(_ a: Float) -> String {
        a == a.rounded() ? String(Int(a)) : String(format: "%g", a)
    }

    /// Throws `AdmissionError.doesNotFit` when the decision refuses the run.
    public static func enforce(_ d: AdmissionDecision) throws {
        guard !d.fits, let avail = d.available else { return }
        throw AdmissionError.doesNotFit(
            needed: d.budget.peakBytes, available: avail, limitSource: d.limitSource,
            suggestions: d.suggestions)
    }
}
