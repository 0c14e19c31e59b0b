/// How the processes of a data-parallel run talk to each other: the trainer is handed one (a value,
/// never a global), `LocalCommunicator` for a single process, `MPICommunicator` (product
/// `LoRAKitMPI`) under `mpirun` / `srun`. Every rank calls the same collectives in the same order.
///
/// The float collectives only move data; the one reduction over ranks the trainer needs
/// (`allReduceSum`) is done by this protocol's extension in a fixed order — rank 0's values plus
/// rank 1's plus … — so the result does not depend on the MPI library's reduction algorithm.
public protocol GradientCommunicator: AnyObject {
    /// This process's index, 0..<size. Rank 0 reports, writes files and checkpoints.
    var rank: Int { get }
    /// Number of processes in the run.
    var size: Int { get }

    /// All-to-all of a float buffer cut into `size` consecutive slices (`counts[q]` elements for rank
    /// q): rank p's slice q lands on rank q. `output` receives this rank's slice from every rank,
    /// one after the other in rank order (`size × counts[rank]` elements).
    func allToAll(_ input: UnsafeBufferPointer<Float>, counts: [Int], into output: UnsafeMutableBufferPointer<Float>) throws

    /// Gathers every rank's `chunk` (`counts[q]` elements from rank q) into `full`, in rank order.
    func allGather(_ chunk: UnsafeBufferPointer<Float>, counts: [Int], into full: UnsafeMutableBufferPointer<Float>) throws

    /// Every rank's `values` (the same count on every rank), concatenated in rank order.
    func allGather(_ values: [Double]) throws -> [Double]

    /// Element-wise sum over ranks of small integer vectors (counts, flags).
    func allReduceSum(_ values: [Int]) throws -> [Int]

    /// Waits until every rank has called it.
    func barrier() throws

    /// `bytes` of rank `root`, on every rank (other ranks' arguments are ignored).
    func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8]
}

/// Failures of a collective (the MPI implementation maps MPI error codes to it).
public enum CommunicatorError: Error, CustomStringConvertible, Equatable {
    case failed(operation: String, code: Int32, message: String)
    case sizeMismatch(operation: String, detail: String)

    public var description: String {
        switch self {
        case .failed(let op, let code, let msg): return "\(op) failed (error \(code)): \(msg)"
        case .sizeMismatch(let op, let detail): return "\(op): \(detail)"
        }
    }
}

/// The single-process communicator: rank 0 of 1; every collective is a copy.
public final class LocalCommunicator: GradientCommunicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }

    public func allToAll(_ input: UnsafeBufferPointer<Float>, counts: [Int], into output: UnsafeMutableBufferPointer<Float>) throws {
        try copy(input, counts, output, "allToAll")
    }

    public func allGather(_ chunk: UnsafeBufferPointer<Float>, counts: [Int], into full: UnsafeMutableBufferPointer<Float>) throws {
        try copy(chunk, counts, full, "allGather")
    }

    private func copy(_ a: UnsafeBufferPointer<Float>, _ counts: [Int], _ b: UnsafeMutableBufferPointer<Float>, _ op: String) throws {
        guard counts.count == 1, a.count >= counts[0], b.count >= counts[0] else {
            throw CommunicatorError.sizeMismatch(operation: op, detail: "counts \(counts) for 1 rank, buffers of \(a.count) and \(b.count)")
        }
        if counts[0] > 0 { b.baseAddress!.update(from: a.baseAddress!, count: counts[0]) }
    }

    public func allGather(_ values: [Double]) throws -> [Double] { values }
    public func allReduceSum(_ values: [Int]) throws -> [Int] { values }
    public func barrier() throws {}
    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] { bytes }
}

extension GradientCommunicator {
    /// The slice of `count` elements rank `r` owns in the reduce-scatter: consecutive, sizes differing by at most one.
    public func sliceCounts(_ count: Int) -> [Int] {
        (0..<size).map { r in (r + 1) * count / size - r * count / size }
    }

    /// Sums `buffer` element-wise over all ranks, in rank order (((r0 + r1) + r2) + …), leaving the
    /// same bits on every rank: a reduce-scatter (all-to-all of slices, each owner adds them in rank
    /// order) then an all-gather. Moves 2·(size−1)/size of the buffer per rank, like a ring all-reduce.
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
        guard size > 1, buffer.count > 0 else { return }
        let counts = sliceCounts(buffer.count)
        let mine = counts[rank]
        var received = [Float](repeating: 0, count: size * mine)
        var owned = [Float](repeating: 0, count: mine)
        try received.withUnsafeMutableBufferPointer { recv in
            try allToAll(UnsafeBufferPointer(buffer), counts: counts, into: recv)
            owned.withUnsafeMutableBufferPointer { o in
                for q in 0..<size {
                    for i in 0..<mine { o[i] = q == 0 ? recv[i] : o[i] + recv[q * mine + i] }
                }
            }
        }
        try owned.withUnsafeBufferPointer { try allGather($0, counts: counts, into: buffer) }
    }

    /// Sum over ranks of one integer.
    public func allReduceSum(_ value: Int) throws -> Int { try allReduceSum([value])[0] }

    /// True on every rank when `flag` is true on any.
    public func any(_ flag: Bool) throws -> Bool { try allReduceSum(flag ? 1 : 0) > 0 }
}
