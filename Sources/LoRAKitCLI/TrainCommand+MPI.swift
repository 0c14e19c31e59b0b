import ArgumentParser
import Foundation
import LoRAKit
import LoRAKitMPI

/// `lorakit train` under mpirun / srun: one rank per process, data-parallel. Started any other way it
/// is the usual single process (MPI is never initialized).
///
/// Rank 0 is the run: it prints, finds the checkpoint to resume and writes everything into --out.
/// The other ranks resume from rank 0's checkpoint (read, never written: --out must be readable on
/// every node to resume), print nothing on stdout and keep their few files (run_config.json, the
/// final adapter) in a scratch folder that is removed at the end. A rank that fails while the
/// others may wait in a collective aborts the whole job (MPI_Abort), so nothing hangs.
extension TrainCommand {
    mutating func runRanks(_ body: (TrainCommand, GradientCommunicator) throws -> Void) throws {
        guard MPICommunicator.launchedByMPI() else { return try body(self, LocalCommunicator()) }
        let comm = try MPICommunicator()
        var scratch: String?
        do {
            scratch = try joinRun(comm)
            try body(self, comm)
        } catch let e as ExitCode {
            // Stopped by a signal: every rank agreed to stop after the same step; rank 0 saved. Only rank 0
            // reports the signal in its exit status (mpirun stops the job at the first rank's non-zero exit).
            finishRank(scratch, comm)
            if comm.rank == 0 { throw e }
            return
        } catch {
            let who = comm.rank == 0 ? "" : "rank \(comm.rank) of \(comm.size): "
            FileHandle.standardError.write(Data("Error: \(who)\(error)\nlorakit: stopping all \(comm.size) ranks\n".utf8))
            if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
            comm.abort(code: 1)
        }
        finishRank(scratch, comm)
    }

    /// Agrees on the checkpoint to resume (rank 0 chooses) and points ranks > 0 at a scratch output folder.
    /// Returns the scratch folder (nil on rank 0).
    private mutating func joinRun(_ comm: MPICommunicator) throws -> String? {
        var chosen: [UInt8] = []
        if comm.rank == 0 {
            // The path of the checkpoint rank 0 will resume (empty: a fresh start).
            if let found = try TrainingRun(try request()).checkpointToResume() { chosen = Array(absolute(found).utf8) }
        }
        let path = String(decoding: try comm.broadcast(chosen, root: 0), as: UTF8.self)
        guard comm.rank > 0 else { return nil }
        freopen("/dev/null", "w", stdout)
        removeStaleScratch()
        var template = Array((NSTemporaryDirectory() + "/lorakit-rank\(comm.rank)-pid\(getpid())-XXXXXX").utf8CString)
        guard let dir = mkdtemp(&template) else { throw CLIError("rank \(comm.rank): cannot create a scratch folder in \(NSTemporaryDirectory())") }
        out = String(cString: dir)
        resume = path.isEmpty ? nil : path
        fresh = false
        return out
    }

    /// Scratch folders of ranks that were killed (their process is gone): a killed job cannot clean up.
    private func removeStaleScratch() {
        let tmp = NSTemporaryDirectory(), fm = FileManager.default
        for name in (try? fm.contentsOfDirectory(atPath: tmp)) ?? [] where name.hasPrefix("lorakit-rank") {
            guard let p = name.split(separator: "-").first(where: { $0.hasPrefix("pid") }), let pid = Int32(p.dropFirst(3)),
                  kill(pid, 0) != 0 && errno == ESRCH else { continue }
            try? fm.removeItem(atPath: tmp + "/" + name)
        }
    }

    /// A checkpoint path every rank can open.
    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Waits until every rank is done (rank 0 has written its files), then leaves MPI.
    private func finishRank(_ scratch: String?, _ comm: MPICommunicator) {
        if let scratch { try? FileManager.default.removeItem(atPath: scratch) }
        try? comm.barrier()
        MPICommunicator.finalize()
    }

    /// The signals that stop a run after the current step with a checkpoint. Under mpirun also SIGUSR1:
    /// mpirun forwards it to every rank, whereas its SIGTERM/SIGINT are followed by SIGKILL within
    /// seconds (the last checkpoint then stays the newest); Slurm sends it with `--signal=USR1@SECONDS`.
    var stopSignals: [Int32] { MPICommunicator.launchedByMPI() ? [SIGINT, SIGTERM, SIGUSR1] : [SIGINT, SIGTERM] }
}
