import CMPI
import Foundation
import LoRAKit

/// A `GradientCommunicator` over MPI (Open MPI via pkg-config `ompi`). Each instance works on its
/// own duplicate of `MPI_COMM_WORLD`, so two trainers in one process never see each other's
/// messages. MPI itself is per process: `init` initializes it when nobody has; `MPICommunicator.finalize()`
/// ends it (once, after the last collective). Collectives only move data; sums are done in rank
/// order by `GradientCommunicator`'s extension, so results do not depend on the MPI build.
public final class MPICommunicator: GradientCommunicator {
    public let rank: Int
    public let size: Int
    private var comm: MPI_Comm?

    /// True when this process was started as one rank of a job by mpirun / mpiexec (Open MPI, MPICH,
    /// PMIx) or by Slurm's `srun`. `LORAKIT_MPI=off` says no, `LORAKIT_MPI=on` yes.
    public static func launchedByMPI(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        switch environment["LORAKIT_MPI"]?.lowercased() {
        case "off", "0", "no": return false
        case "on", "1", "yes": return true
        default: break
        }
        let markers = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"]
        return markers.contains { environment[$0] != nil }
    }

    /// Joins the job: initializes MPI if needed and duplicates `MPI_COMM_WORLD` (errors are returned, not fatal).
    public init() throws {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        if flag == 0 {
            var provided: Int32 = 0
            try MPICommunicator.check(MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided), "MPI_Init_thread")
        }
        var dup: MPI_Comm?
        try MPICommunicator.check(MPI_Comm_dup(lk_mpi_comm_world(), &dup), "MPI_Comm_dup")
        MPI_Comm_set_errhandler(dup, lk_mpi_errors_return())
        var r: Int32 = 0, n: Int32 = 0
        MPI_Comm_rank(dup, &r)
        MPI_Comm_size(dup, &n)
        comm = dup
        rank = Int(r)
        size = Int(n)
    }

    deinit {
        var finalized: Int32 = 0
        MPI_Finalized(&finalized)
        if finalized == 0, comm != nil { MPI_Comm_free(&comm) }
    }

    /// Ends MPI for this process (call once, after every communicator is done). A rank that exits
    /// without it makes mpirun report an abnormal end and stop the job.
    public static func finalize() {
        var initialized: Int32 = 0, finalized: Int32 = 0
        MPI_Initialized(&initialized)
        MPI_Finalized(&finalized)
        if initialized != 0 && finalized == 0 { MPI_Finalize() }
    }

    /// Stops every rank of the job (MPI_Abort): for a rank that cannot go on while the others would
    /// wait for it in a collective. Does not return.
    public func abort(code: Int32) -> Never {
        MPI_Abort(lk_mpi_comm_world(), code)
        exit(code)
    }

    static func check(_ code: Int32, _ op: String) throws {
        guard code != lk_mpi_success() else { return }
        var buf = [CChar](repeating: 0, count: Int(lk_mpi_max_error_string()) + 1)
        var len: Int32 = 0
        MPI_Error_string(code, &buf, &len)
        throw CommunicatorError.failed(operation: op, code: code, message: String(cString: buf))
    }

    private func int32s(_ v: [Int], _ op: String) throws -> [Int32] {
        guard v.count == size, v.allSatisfy({ $0 >= 0 && $0 <= Int(Int32.max) }) else {
            throw CommunicatorError.sizeMismatch(operation: op, detail: "counts \(v) for \(size) ranks (each 0...\(Int32.max))")
        }
        return v.map { Int32($0) }
    }

    private func offsets(_ c: [Int32]) -> [Int32] {
        var o: [Int32] = [], s: Int32 = 0
        for x in c { o.append(s); s += x }
        return o
    }

    public func allToAll(_ input: UnsafeBufferPointer<Float>, counts: [Int], into output: UnsafeMutableBufferPointer<Float>) throws {
        let c = try int32s(counts, "allToAll"), mine = c[rank]
        guard input.count >= counts.reduce(0, +), output.count >= size * Int(mine) else {
            throw CommunicatorError.sizeMismatch(operation: "allToAll", detail: "buffers of \(input.count) and \(output.count) for counts \(counts)")
        }
        let recvCounts = [Int32](repeating: mine, count: size), recvOffsets = (0..<size).map { Int32($0) * mine }
        try MPICommunicator.check(MPI_Alltoallv(input.baseAddress, c, offsets(c), lk_mpi_float(),
                                                output.baseAddress, recvCounts, recvOffsets, lk_mpi_float(), comm), "MPI_Alltoallv")
    }

    public func allGather(_ chunk: UnsafeBufferPointer<Float>, counts: [Int], into full: UnsafeMutableBufferPointer<Float>) throws {
        let c = try int32s(counts, "allGather")
        guard chunk.count >= counts[rank], full.count >= counts.reduce(0, +) else {
            throw CommunicatorError.sizeMismatch(operation: "allGather", detail: "buffers of \(chunk.count) and \(full.count) for counts \(counts)")
        }
        try MPICommunicator.check(MPI_Allgatherv(chunk.baseAddress, c[rank], lk_mpi_float(), full.baseAddress, c, offsets(c),
                                                 lk_mpi_float(), comm), "MPI_Allgatherv")
    }

    public func allGather(_ values: [Double]) throws -> [Double] {
        var out = [Double](repeating: 0, count: values.count * size)
        try values.withUnsafeBufferPointer { v in
            try out.withUnsafeMutableBufferPointer { o in
                try MPICommunicator.check(MPI_Allgather(v.baseAddress, Int32(values.count), lk_mpi_double(), o.baseAddress,
                                                        Int32(values.count), lk_mpi_double(), comm), "MPI_Allgather")
            }
        }
        return out
    }

    public func allReduceSum(_ values: [Int]) throws -> [Int] {
        let v = values.map { CLong($0) }
        var out = [CLong](repeating: 0, count: v.count)
        try MPICommunicator.check(MPI_Allreduce(v, &out, Int32(v.count), lk_mpi_long(), lk_mpi_sum(), comm), "MPI_Allreduce")
        return out.map { Int($0) }
    }

    public func barrier() throws {
        try MPICommunicator.check(MPI_Barrier(comm), "MPI_Barrier")
    }

    public func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] {
        var n = CLong(bytes.count)
        try MPICommunicator.check(MPI_Bcast(&n, 1, lk_mpi_long(), Int32(root), comm), "MPI_Bcast")
        guard n >= 0, n <= CLong(Int32.max) else {
            throw CommunicatorError.sizeMismatch(operation: "broadcast", detail: "\(n) bytes (at most \(Int32.max))")
        }
        var buf = rank == root ? bytes : [UInt8](repeating: 0, count: Int(n))
        try MPICommunicator.check(MPI_Bcast(&buf, Int32(n), lk_mpi_byte(), Int32(root), comm), "MPI_Bcast")
        return buf
    }
}
