import ArgumentParser
import Foundation

/// Checks and normalizes the raw arguments before ArgumentParser sees them:
/// - a negative number after an option is its value (`--lr -1`, `--seed -3`), not an unknown flag:
///   it is joined as `--lr=-1` so the value is parsed (and then validated like any other);
/// - an option given twice is an error naming it (ArgumentParser would let the last one win silently),
///   except the options that are lists (`generate --adapter A --adapter B`).
enum CommandLineCheck {
    /// Options that may be repeated, per subcommand.
    static let repeatable: [String: Set<String>] = ["generate": ["--adapter", "--stack"], "combine": ["--adapter"], "eval": ["--stack"]]
    /// What to do instead, for repeats users make on purpose.
    static let hints: [String: String] = [
        "merge --adapter": "merge folds one adapter into the base; to merge several, merge them one after another (the output of one as the next --model)",
    ]

    static func normalize(_ args: [String]) throws -> [String] {
        var out: [String] = []
        var seen: [String: Int] = [:]
        let sub = args.first { !$0.hasPrefix("-") } ?? ""
        var i = 0
        var passthrough = false
        while i < args.count {
            let a = args[i]
            if passthrough || a == "--" { passthrough = true; out.append(a); i += 1; continue }
            if a.hasPrefix("--"), a.count > 2 {
                let name = String(a.split(separator: "=", maxSplits: 1)[0])
                if name != "--help", !(repeatable[sub]?.contains(name) ?? false) {
                    seen[name, default: 0] += 1
                    if seen[name] == 2 {
                        throw ValidationError("\(name) is given more than once; " + (hints["\(sub) \(name)"]
                            ?? "give it once (a repeated option would silently win over the first)"))
                    }
                }
                if !a.contains("="), i + 1 < args.count, isNegativeNumber(args[i + 1]) {
                    out.append(a + "=" + args[i + 1])
                    i += 2
                    continue
                }
            }
            out.append(a)
            i += 1
        }
        return out
    }

    static func isNegativeNumber(_ s: String) -> Bool {
        guard s.hasPrefix("-"), s.count > 1 else { return false }
        return Double(s) != nil
    }
}
