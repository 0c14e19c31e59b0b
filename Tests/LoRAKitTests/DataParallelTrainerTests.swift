import Foundation
import XCTest
@testable import LoRAKit

/// Data parallelism in the library, without MPI: N trainers on N threads of this process talk through
/// `ThreadCommunicator` (a test double of `GradientCommunicator`). N ranks × grad-accum k must give
/// the factors, losses and validation losses of one trainer × grad-accum k·N, bit for bit.
final class DataParallelTrainerTests: XCTestCase {
    func testOrderedAllReduceSumsInRankOrder() throws {
        let ranks = 3, count = 7   // slices of 3, 2, 2 elements
        var values: [[Float]] = []
        for r in 0..<ranks {
            let scale: Float = r == 1 ? 1e-8 : 1   // rank 1's values are lost in rounding unless added in order
            values.append((0..<count).map { i in Float(1 + r * 7 + i) * scale + 0.1 })
        }
        var expected: [Float] = []
        for i in 0..<count { expected.append((values[0][i] + values[1][i]) + values[2][i]) }
        let results = ThreadCommunicator.run(ranks) { comm -> [Float] in
            var v = values[comm.rank]
            try! v.withUnsafeMutableBufferPointer { try comm.allReduceSum($0) }
            return v
        }
        for r in results { XCTAssertEqual(r.map(\.bitPattern), expected.map(\.bitPattern)) }
        XCTAssertEqual(LocalCommunicator().sliceCounts(5), [5])
        XCTAssertEqual(results.count, ranks)
    }

    func testRanksTimesGradAccumEqualOneTrainerBitwise() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-dp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try CheckpointTests.synthModel(dir: dir, seed: 4)
        func lines(_ n: Int, _ tag: String) -> Data {
            Data((0..<n).map { i in "{\"text\": \"\(tag) \(i): the moon Kest rises \(i % 5) hours after Pell.\"}" }.joined(separator: "\n").utf8)
        }
        try lines(30, "Veloria note").write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        try lines(7, "Valid note").write(to: URL(fileURLWithPath: dir + "/valid.jsonl"))
        var cfg = CheckpointTests.config(steps: 3)
        cfg.threads = 1
        cfg.evalInterval = 2
        let data = try TrainingData(path: dir, tokenizer: try XCTUnwrap(FixtureTokenizers.smollm), options: cfg.datasetOptions)

        func run(_ comm: GradientCommunicator, accum: Int) throws -> (values: [Float], events: [String]) {
            var c = cfg
            c.gradientAccumulation = accum
            let trainer = try LoRATrainer(model: model, config: c, communicator: comm)
            var events: [String] = []
            try trainer.train(data) { e in
                switch e {
                case .step(let m): events.append("step \(m.step) loss \(m.loss.bitPattern) targets \(m.targets) tokens \(m.tokens)")
                case .eval(let v): events.append("eval \(v.step) loss \(v.loss.bitPattern) targets \(v.targets)")
                }
                return .proceed
            }
            return (trainer.parameters.values, events)
        }
        let one = try run(LocalCommunicator(), accum: 6)
        XCTAssertEqual(one.events.filter { $0.hasPrefix("eval") }.count, 3, "\(one.events)")   // before, step 2, step 3
        let ranked = ThreadCommunicator.run(3) { comm in try! run(comm, accum: 2) }
        XCTAssertEqual(ranked[0].values.map(\.bitPattern), one.values.map(\.bitPattern), "3 ranks × 2 differ from 1 × 6")
        XCTAssertEqual(ranked[0].events, one.events, "rank 0 reports the global losses")
        for r in ranked.dropFirst() {
            XCTAssertEqual(r.values.map(\.bitPattern), one.values.map(\.bitPattern), "every rank keeps the same factors")
            XCTAssertEqual(r.events, [], "only rank 0 calls the observer")
        }
    }

    func testRanksWithDifferentDataRefuseToTrain() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-dp-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try CheckpointTests.synthModel(dir: dir, seed: 4)
        var cfg = CheckpointTests.config(steps: 1)
        cfg.threads = 1
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        var sets: [TrainingData] = []
        for r in 0..<2 {
            let path = dir + "/train\(r).jsonl"
            try Data((0..<8).map { i in "{\"text\": \"rank \(r) line \(i) about the moons of Veloria.\"}" }.joined(separator: "\n").utf8)
                .write(to: URL(fileURLWithPath: path))
            sets.append(try TrainingData(path: path, tokenizer: tok, options: cfg.datasetOptions))
        }
        let errors = ThreadCommunicator.run(2) { comm -> String in
            do {
                try LoRATrainer(model: model, config: cfg, communicator: comm).train(sets[comm.rank])
                return "trained"
            } catch { return "\(error)" }
        }
        for e in errors { XCTAssertTrue(e.hasPrefix("rank 1 of 2 does not train what rank 0 trains"), e) }
    }
}

final class ResultBox<T>: @unchecked Sendable {
    var results: [T?]
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}

/// N ranks on N threads of one process: every collective is an exchange of values through a shared hub.
final class ThreadCommunicator: GradientCommunicator {
    final class Hub: @unchecked Sendable {
        let size: Int
        let cond = NSCondition()
        var slots: [Any?]
        var snapshot: [Any?] = []
        var arrived = 0, generation = 0
        init(size: Int) { self.size = size; slots = Array(repeating: nil, count: size) }

        /// Every rank's `value`, once all ranks have handed theirs in.
        func exchange(_ rank: Int, _ value: Any) -> [Any] {
            cond.lock()
            defer { cond.unlock() }
            slots[rank] = value
            arrived += 1
            let gen = generation
            if arrived == size {
                snapshot = slots
                arrived = 0
                generation += 1
                cond.broadcast()
            } else {
                while gen == generation { cond.wait() }
            }
            return snapshot.map { $0! }
        }
    }

    let rank: Int
    var size: Int { hub.size }
    let hub: Hub
    init(rank: Int, hub: Hub) { self.rank = rank; self.hub = hub }

    /// Runs `body` on `ranks` threads, one communicator each; results in rank order.
    static func run<T>(_ ranks: Int, _ body: @escaping (ThreadCommunicator) -> T) -> [T] {
        let hub = Hub(size: ranks)
        let box = ResultBox<T>(ranks)
        let lock = NSLock(), group = DispatchGroup()
        for r in 0..<ranks {
            group.enter()
            let t = Thread {
                let v = body(ThreadCommunicator(rank: r, hub: hub))
                lock.lock(); box.results[r] = v; lock.unlock()
                group.leave()
            }
            t.stackSize = 8 << 20
            t.start()
        }
        group.wait()
        return box.results.map { $0! }
    }

    func allToAll(_ input: UnsafeBufferPointer<Float>, counts: [Int], into output: UnsafeMutableBufferPointer<Float>) throws {
        let all = hub.exchange(rank, Array(input)).map { $0 as! [Float] }
        let start = counts[..<rank].reduce(0, +), mine = counts[rank]
        for q in 0..<size { for i in 0..<mine { output[q * mine + i] = all[q][start + i] } }
    }

    func allGather(_ chunk: UnsafeBufferPointer<Float>, counts: [Int], into full: UnsafeMutableBufferPointer<Float>) throws {
        let all = hub.exchange(rank, Array(chunk.prefix(counts[rank]))).map { $0 as! [Float] }
        var at = 0
        for part in all { for x in part { full[at] = x; at += 1 } }
    }

    func allGather(_ values: [Double]) throws -> [Double] { hub.exchange(rank, values).flatMap { $0 as! [Double] } }

    func allReduceSum(_ values: [Int]) throws -> [Int] {
        hub.exchange(rank, values).map { $0 as! [Int] }.reduce(into: [Int](repeating: 0, count: values.count)) { s, v in
            for i in s.indices { s[i] += v[i] }
        }
    }

    func barrier() throws { _ = hub.exchange(rank, 0) }
    func broadcast(_ bytes: [UInt8], root: Int) throws -> [UInt8] { hub.exchange(rank, bytes)[root] as! [UInt8] }
}
