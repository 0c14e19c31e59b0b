import Foundation

/// Wall time per operation kind, collected by a `LlamaGraph` when a profile is attached
/// (`graph.profile = OpProfile()`). Without a profile the graph takes no timestamps.
public final class OpProfile: @unchecked Sendable {
    /// One operation kind: total seconds and number of calls.
    public struct Entry: Codable, Sendable, Equatable {
        public var op: String
        public var seconds: Double
        public var calls: Int
    }

    private var totals: [String: (seconds: Double, calls: Int)] = [:]
    private var order: [String] = []

    /// An empty profile.
    public init() {}

    /// Adds `seconds` to `op`.
    public func add(_ op: String, seconds: Double) {
        if let t = totals[op] {
            totals[op] = (t.seconds + seconds, t.calls + 1)
        } else {
            totals[op] = (seconds, 1)
            order.append(op)
        }
    }

    /// Clears all entries.
    public func reset() {
        totals.removeAll()
        order.removeAll()
    }

    /// Entries in first-seen order.
    public var entries: [Entry] {
        order.map { Entry(op: $0, seconds: totals[$0]!.seconds, calls: totals[$0]!.calls) }
    }

    /// Seconds spent in operations whose name starts with `prefix`.
    public func seconds(prefix: String) -> Double {
        totals.filter { $0.key.hasPrefix(prefix) }.reduce(0) { $0 + $1.value.seconds }
    }

    /// Total seconds over all operations.
    public var totalSeconds: Double { totals.values.reduce(0) { $0 + $1.seconds } }

    /// Monotonic clock in seconds.
    @inline(__always) static func now() -> Double {
        Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
    }
}
