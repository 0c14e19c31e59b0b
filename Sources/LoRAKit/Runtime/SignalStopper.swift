import Dispatch
import Foundation

/// A thread-safe "please stop" flag: set from any thread (a signal handler's queue, a UI, a batch
/// scheduler), read by the training loop between steps.
public final class StopRequest: @unchecked Sendable {
    private let lock = NSLock()
    private var requested = false
    private var reasonText: String?

    public init() {}

    /// Asks for a stop after the step in progress.
    public func request(reason: String? = nil) {
        lock.lock()
        requested = true
        if reasonText == nil { reasonText = reason }
        lock.unlock()
    }

    public var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return requested }
    /// The first reason given.
    public var reason: String? { lock.lock(); defer { lock.unlock() }; return reasonText }
}

/// SIGINT/SIGTERM handling for long runs: the first signal asks `target` to stop after the current
/// step (the run then saves a checkpoint and exits cleanly); a second signal ends the process at
/// once with 128 + signal number. Checkpoints are written atomically and files being written are
/// removed first (`AbruptExit`), so an immediate exit leaves neither a damaged nor a temporary file. Handlers run on a dispatch queue, not in signal context.
public final class SignalStopper: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let signals: [Int32]
    private let lock = NSLock()
    private var received: Int32 = 0
    private let target: StopRequest
    private let onFirst: @Sendable (Int32) -> Void
    private let onSecond: @Sendable (Int32) -> String

    /// Starts listening for `signals`. `onFirst` runs (on a background queue) for the first one;
    /// `onSecond` returns the message printed before the immediate exit (it should say what is on
    /// disk: temporary files being written are removed before the exit).
    public init(target: StopRequest, signals: [Int32] = [SIGINT, SIGTERM], onFirst: @escaping @Sendable (Int32) -> Void = { _ in },
                onSecond: @escaping @Sendable (Int32) -> String = { "second \(SignalStopper.name($0)): exiting now" }) {
        self.target = target
        self.onFirst = onFirst
        self.onSecond = onSecond
        self.signals = signals
        let queue = DispatchQueue(label: "lorakit.signals")
        for s in signals {
            signal(s, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: s, queue: queue)
            src.setEventHandler { [weak self] in self?.handle(s) }
            src.resume()
            sources.append(src)
        }
    }

    private func handle(_ s: Int32) {
        lock.lock()
        let first = received == 0
        if first { received = s }
        lock.unlock()
        if first {
            target.request(reason: SignalStopper.name(s))
            onFirst(s)
        } else {
            let msg = "\n" + onSecond(s) + "\n"
            msg.withCString { _ = write(2, $0, strlen($0)) }
            AbruptExit.exit(128 + s)
        }
    }

    /// The first signal received (0: none).
    public var signalReceived: Int32 { lock.lock(); defer { lock.unlock() }; return received }

    /// Stops listening and restores the default actions.
    public func cancel() {
        for s in sources { s.cancel() }
        sources.removeAll()
        for s in signals { signal(s, SIG_DFL) }
    }

    public static func name(_ s: Int32) -> String {
        switch s {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(s)"
        }
    }
}
