import CKernels
import Foundation
import XCTest
@testable import LoRAKit

/// Node-local frozen products (`lk_qmatmul_*_grouped`) and `--numa` in training: row groups of
/// 1–3 against the fp64 references, one group bitwise equal to the ungrouped kernels, and training
/// runs bitwise identical across NUMA modes at a fixed thread count (on this machine and on an
/// injected two-node topology, where the products really use two row groups).
final class NUMAGroupedTests: XCTestCase {
    /// W [out, cols] of `type` from random floats (never zero).
    func randomMatrix(_ type: GGMLType, out: Int, cols: Int, seed: UInt64) throws -> QuantizedMatrix {
        try QuantizedMatrix.quantize(SplitMix64.uniformSymmetric(seed: seed, count: out * cols), rows: out, cols: cols, as: type)
    }

    func relativeMaxError(_ a: [Float], _ b: [Float]) -> Double {
        let scale = max(Double(b.map { abs($0) }.max() ?? 0), Double(Float.leastNormalMagnitude))
        return zip(a, b).map { Double(abs($0 - $1)) }.max()! / scale
    }

    struct Products: Equatable { var y: [Float]; var dx: [Float]; var dxAcc: [Float] }

    /// Y = X·Wᵀ, dX = dY·W and dX0 + dY·W with row groups `bounds` on a pool of `threads`.
    func grouped(_ w: QuantizedMatrix, pool: ThreadPool, bounds: [Int32]?, x: [Float], dy: [Float], dx0: [Float], T: Int,
                 partials: Bool = true) -> Products {
        let (out, cols, t) = (Int64(w.rows), Int64(w.cols), w.type.lk)
        var y = [Float](repeating: .nan, count: T * w.rows)
        var dx = [Float](repeating: .nan, count: T * w.cols)
        var dxAcc = dx0
        let g = bounds ?? [0, Int32(pool.threads)]
        let groups = Int32(g.count - 1)
        var part = [Float](repeating: .nan, count: max(1, lk_qmatmul_partial_floats(groups, Int64(T), cols)))
        w.withUnsafeBytes { wp in
            g.withUnsafeBufferPointer { gb in
                part.withUnsafeMutableBufferPointer { pp in
                    let pptr = partials ? pp.baseAddress : nil
                    lk_qmatmul_fwd_grouped(pool.raw, nil, &y, out, x, cols, t, wp, out, cols, Int64(T), 0, gb.baseAddress, groups)
                    lk_qmatmul_bwd_data_grouped(pool.raw, nil, pptr, &dx, cols, dy, out, t, wp, out, cols, Int64(T), 0,
                                                gb.baseAddress, groups)
                    lk_qmatmul_bwd_data_grouped(pool.raw, nil, pptr, &dxAcc, cols, dy, out, t, wp, out, cols, Int64(T), 1,
                                                gb.baseAddress, groups)
                }
            }
        }
        return Products(y: y, dx: dx, dxAcc: dxAcc)
    }

    func testGroupedProductsMatchReferenceAndOneGroupIsBitwiseUngrouped() throws {
        // Ragged shapes: few rows (empty groups), many rows over several panels, `in` over one panel width.
        let shapes: [(out: Int, cols: Int, T: Int)] = [(3, 64, 5), (37, 96, 7), (1000, 1056, 9), (613, 320, 4)]
        let pool = ThreadPool(threads: 4)
        let groupings: [[Int32]] = [[0, 4], [0, 2, 4], [0, 1, 4], [0, 1, 3, 4]]
        for type in [GGMLType.q4_1, .q8_0, .f32] {
            for (si, s) in shapes.enumerated() {
                let w = try randomMatrix(type, out: s.out, cols: s.cols, seed: UInt64(100 + si))
                let x = SplitMix64.uniformSymmetric(seed: UInt64(7 + si), count: s.T * s.cols)
                let dy = SplitMix64.uniformSymmetric(seed: UInt64(17 + si), count: s.T * s.out)
                let dx0 = SplitMix64.uniformSymmetric(seed: UInt64(27 + si), count: s.T * s.cols)
                var yRef = [Float](repeating: 0, count: s.T * s.out), dxRef = [Float](repeating: 0, count: s.T * s.cols)
                w.withUnsafeBytes { wp in
                    lk_qmatmul_fwd_ref(&yRef, Int64(s.out), x, Int64(s.cols), type.lk, wp, Int64(s.out), Int64(s.cols), Int64(s.T))
                    lk_qmatmul_bwd_data_ref(&dxRef, Int64(s.cols), dy, Int64(s.out), type.lk, wp, Int64(s.out), Int64(s.cols), Int64(s.T))
                }
                let accRef = zip(dx0, dxRef).map { $0 + $1 }
                // The ungrouped kernels on the same pool.
                var y1 = [Float](repeating: .nan, count: s.T * s.out), dx1 = [Float](repeating: .nan, count: s.T * s.cols)
                w.withUnsafeBytes { wp in
                    lk_qmatmul_fwd(pool.raw, nil, &y1, Int64(s.out), x, Int64(s.cols), type.lk, wp, Int64(s.out), Int64(s.cols), Int64(s.T), 0)
                    lk_qmatmul_bwd_data(pool.raw, nil, &dx1, Int64(s.cols), dy, Int64(s.out), type.lk, wp, Int64(s.out), Int64(s.cols), Int64(s.T), 0)
                }
                for g in groupings {
                    let label = "\(type) \(s) groups \(g)"
                    let p = grouped(w, pool: pool, bounds: g, x: x, dy: dy, dx0: dx0, T: s.T)
                    XCTAssertLessThan(relativeMaxError(p.y, yRef), 1e-5, "fwd " + label)
                    XCTAssertLessThan(relativeMaxError(p.dx, dxRef), 1e-5, "bwd " + label)
                    XCTAssertLessThan(relativeMaxError(p.dxAcc, accRef), 1e-5, "bwd accumulate " + label)
                    XCTAssertFalse(p.y.contains { !$0.isFinite } || p.dx.contains { !$0.isFinite }, label)
                    // Deterministic, and the same with partial buffers allocated by the kernel.
                    XCTAssertEqual(p, grouped(w, pool: pool, bounds: g, x: x, dy: dy, dx0: dx0, T: s.T, partials: false), label)
                    if g.count == 2 {
                        XCTAssertEqual(p.y, y1, "one group must be bitwise the ungrouped forward: " + label)
                        XCTAssertEqual(p.dx, dx1, "one group must be bitwise the ungrouped backward: " + label)
                    }
                }
                // Invalid groupings count as one group.
                for bad: [Int32] in [[0, 3], [0, 2, 2, 4], [1, 4]] {
                    XCTAssertEqual(grouped(w, pool: pool, bounds: bad, x: x, dy: dy, dx0: dx0, T: s.T).dx, dx1, "\(type) \(s) \(bad)")
                }
            }
        }
    }

    /// The grouping, not where threads run, decides the bits: a pinned pool gives the same results.
    func testPinnedPoolGivesSameBits() throws {
        let w = try randomMatrix(.q4_1, out: 613, cols: 320, seed: 5)
        let T = 6
        let x = SplitMix64.uniformSymmetric(seed: 1, count: T * 320), dy = SplitMix64.uniformSymmetric(seed: 2, count: T * 613)
        let dx0 = SplitMix64.uniformSymmetric(seed: 3, count: T * 320)
        let cpus = NUMATopology.current().allowedCPUs.map(Int32.init)
        let free = ThreadPool(threads: 3, groupSizes: [1, 2])
        let pinned = ThreadPool(threads: 3, cpus: (0..<3).map { cpus[$0 % cpus.count] }, groupSizes: [1, 2])
        XCTAssertEqual(free.groupBounds, [0, 1, 3])
        XCTAssertEqual(ThreadPool(threads: 3, groupSizes: [2, 2]).groupBounds, [0, 3], "sizes must sum to the threads")
        XCTAssertEqual(grouped(w, pool: free, bounds: free.groupBounds, x: x, dy: dy, dx0: dx0, T: T),
                       grouped(w, pool: pinned, bounds: pinned.groupBounds, x: x, dy: dy, dx0: dx0, T: T))
    }

    // MARK: - Plans and pools

    /// Two nodes of one CPU each (this machine's CPUs 0 and 1), memory binding off so nothing is placed.
    static let twoNodes = NUMATopology(nodes: [.init(id: 0, cpus: [0], memoryBytes: 8 << 30, freeBytes: 4 << 30),
                                               .init(id: 1, cpus: [1], memoryBytes: 8 << 30, freeBytes: 4 << 30)],
                                       canBindMemory: false)

    func testRowGroupsDoNotDependOnTheMode() throws {
        let four = NUMATopology(nodes: (0..<4).map { .init(id: $0, cpus: Array($0 * 4..<$0 * 4 + ($0 == 3 ? 2 : 4)), memoryBytes: 1 << 30, freeBytes: 1 << 30) })
        XCTAssertEqual(NUMAPlan.rowGroupSizes(topology: four, threads: 14), [4, 4, 4, 2])
        XCTAssertEqual(NUMAPlan.rowGroupSizes(topology: four, threads: 3), [1, 1, 1])
        XCTAssertEqual(NUMAPlan.rowGroupSizes(topology: Self.twoNodes, threads: 2), [1, 1])
        XCTAssertEqual(NUMAPlan.rowGroupSizes(topology: Self.twoNodes, threads: 5).reduce(0, +), 5)
        let one = NUMATopology(nodes: [.init(id: 0, cpus: [0, 1], memoryBytes: 1 << 30, freeBytes: 1 << 30)])
        XCTAssertEqual(NUMAPlan.rowGroupSizes(topology: one, threads: 6), [6])
        for mode in NUMAMode.allCases {
            let plan = try NUMAPlan.forRun(topology: four, threads: 14, mode: mode)
            let pool = ThreadPool(plan: plan, topology: four)
            XCTAssertEqual(pool.groupBounds, [0, 4, 8, 12, 14], "\(mode)")
        }
        // Default threads: pinned modes one per core, off as the pool default.
        XCTAssertEqual(try NUMAPlan.forRun(topology: four, threads: nil, mode: .distribute).threads, 14)
        XCTAssertEqual(try NUMAPlan.forRun(topology: four, threads: nil, mode: .off).threads,
                       min(ThreadPool.defaultThreadCount, NUMAPlan.maxThreads))
        XCTAssertThrowsError(try NUMAPlan.forRun(topology: four, threads: 0, mode: .auto)) { e in
            XCTAssertEqual(e as? NUMAError, .invalidThreads(0))
        }
        let line = try NUMAPlan.forRun(topology: four, threads: 14, mode: .auto).summaryLine
        XCTAssertTrue(line.hasPrefix("NUMA: auto → distribute, 4 nodes: node 0 4 workers (cpus 0-3)"), line)
        XCTAssertTrue(line.contains("weights split by rows into node-local memory"), line)
    }

    func testGraphPlanCountsGroupPartials() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-numa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try LoRAGradientCheckTests.tinyModel(dir: dir)
        let pool = ThreadPool(threads: 3, groupSizes: [1, 1, 1])
        let lora = try LoRAParameters(config: LoRAConfig(rank: 3, targets: LoRATarget.allCases), model: w.config)
        let g = LlamaGraph(weights: w, lora: lora, batch: 2, sequence: 7, training: true, checkpointing: false, pool: pool)
        let plan = LlamaGraph.plan(config: w.config, lora: lora.config, loraCount: lora.count, batch: 2, sequence: 7,
                                   training: true, checkpointing: false, threads: 3, rowGroups: 3)
        XCTAssertEqual(plan.groupPartials, 2 * 14 * max(w.config.embeddingLength, w.config.feedForwardLength) * 4)
        XCTAssertEqual(g.allocatedPlan.groupPartials, plan.groupPartials)
    }

    // MARK: - Placement of a model

    func testPlacedModelCopiesEveryProductMatrix() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-numa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let w = try CheckpointTests.synthModel(dir: dir, seed: 4)
        let topo = NUMATopology.current()
        // A plan that places both halves on this machine's first memory node.
        let node = topo.allowedMemoryNodes.first ?? 0
        var plan = try NUMAPlan.make(topology: topo, threads: 2, mode: .off)
        XCTAssertTrue(try w.placed(by: plan) === w, "a plan that places nothing keeps the memory map")
        plan.groups = [.init(node: node, memoryNode: node, workers: 0..<1, cpus: []),
                       .init(node: node, memoryNode: node, workers: 1..<2, cpus: [])]
        plan.placesWeights = true
        guard topo.canBindMemory else { throw XCTSkip("memory binding unavailable here") }
        let p = try w.placed(by: plan)
        let pairs = zip(w.layers, p.layers).flatMap { a, b in zip(a.matrices.map(\.matrix), b.matrices.map(\.matrix)) }
            + [(w.lmHead, p.lmHead)]
        for (a, b) in pairs {
            XCTAssertEqual(a.dequantized(), b.dequantized())
            try a.withUnsafeBytes { pa in
                try b.withUnsafeBytes { pb in
                    XCTAssertNotEqual(pa, pb, "not copied")
                    XCTAssertEqual(Set(try NUMAPlacement.pageNodes(of: pb, count: b.byteCount)), [node])
                }
            }
        }
    }

    // MARK: - Training across modes

    func trainingFixture(_ dir: String) throws -> (ModelWeights, TrainingData) {
        let model = try CheckpointTests.synthModel(dir: dir, seed: 3)
        let lines = (0..<16).map { i in "{\"text\": \"Veloria note \(i): the moon Kest rises \(i % 5) hours after Pell, and the tides follow.\"}" }
        try Data(lines.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: dir + "/train.jsonl"))
        let tok = try XCTUnwrap(FixtureTokenizers.smollm)
        let data = try TrainingData(path: dir + "/train.jsonl", tokenizer: tok, options: CheckpointTests.config().datasetOptions)
        return (model, data)
    }

    func train(_ model: ModelWeights, _ data: TrainingData, mode: NUMAMode, topology: NUMATopology) throws -> [Float] {
        var cfg = CheckpointTests.config(steps: 3)
        cfg.numa = mode
        cfg.threads = 2
        let t = try LoRATrainer(model: model, config: cfg, topology: topology)
        XCTAssertEqual(t.pool.threads, 2)
        try t.train(data)
        return t.parameters.values
    }

    func testTrainingIsBitwiseIdenticalAcrossModes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-numa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (model, data) = try trainingFixture(dir)
        let here = NUMATopology.current()
        if here.nodes.count > 1 && here.canBindMemory {
            // A real multi-node machine (e.g. scripts/numa-guest.sh): distribute pins and places for real.
            var c = CheckpointTests.config(steps: 3)
            c.threads = 2
            c.numa = .distribute
            let t = try LoRATrainer(model: model, config: c, topology: here)
            print(t.numaPlan.summaryLine)
            XCTAssertTrue(t.numaPlan.placesWeights)
            let head = t.stepper.graph.weights.lmHead   // 3.3 MB: many pages per part
            let nodes = try head.withUnsafeBytes { try NUMAPlacement.pageNodes(of: $0, count: head.byteCount) }
            print("LM head pages per node: \(Dictionary(grouping: nodes, by: { $0 }).mapValues(\.count))")
            XCTAssertEqual(nodes.first, t.numaPlan.groups.first?.memoryNode)
            XCTAssertEqual(nodes.last, t.numaPlan.groups.last?.memoryNode)
            XCTAssertEqual(Set(nodes).count, t.numaPlan.groups.count)
        }
        let off = try train(model, data, mode: .off, topology: here)
        for mode in [NUMAMode.distribute, .auto, .isolate] {
            XCTAssertEqual(try train(model, data, mode: mode, topology: here), off, "\(mode) vs off on this machine")
        }
        // Two nodes: the products use two row groups (node-local rows, partial dX per node).
        let two = Self.twoNodes
        let trainer = try LoRATrainer(model: model, config: { var c = CheckpointTests.config(steps: 3); c.threads = 2; c.numa = .auto; return c }(),
                                      topology: two)
        XCTAssertEqual(trainer.numaPlan.mode, .distribute)
        XCTAssertEqual(trainer.pool.groupBounds, [0, 1, 2])
        let offTwo = try train(model, data, mode: .off, topology: two)
        for mode in [NUMAMode.distribute, .auto, .isolate] {
            XCTAssertEqual(try train(model, data, mode: mode, topology: two), offTwo, "\(mode) vs off on two nodes")
        }
        // Two groups sum in another order than one: close, not necessarily equal.
        XCTAssertLessThan(relativeMaxError(offTwo, off), 1e-4)
        XCTAssertNotEqual(off, try LoRATrainer(model: model, config: CheckpointTests.config(steps: 3)).parameters.values, "it trained")
    }

    /// A plan that places weights on a node the kernel does not have fails with a NUMAError naming the tensor.
    func testPlacementOnMissingNodeIsAClearError() throws {
        let topo = NUMATopology.current()
        guard topo.canBindMemory, topo.nodes.count == 1 else { throw XCTSkip("needs a one-node machine with memory binding") }
        let cpus = topo.allowedCPUs
        guard cpus.count >= 2 else { throw XCTSkip("needs two CPUs") }
        let fake = NUMATopology(nodes: [.init(id: topo.nodes[0].id, cpus: [cpus[0]], memoryBytes: 1 << 30, freeBytes: 1 << 30),
                                        .init(id: 63, cpus: [cpus[1]], memoryBytes: 1 << 30, freeBytes: 1 << 30)],
                                allowedCPUs: [cpus[0], cpus[1]], canBindMemory: true)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-numa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let model = try CheckpointTests.synthModel(dir: dir, seed: 2, blocks: 1)
        var cfg = CheckpointTests.config(steps: 1)
        cfg.numa = .distribute
        XCTAssertThrowsError(try LoRATrainer(model: model, config: cfg, topology: fake)) { e in
            guard case .bindFailed(let tensor, let node, _, _)? = e as? NUMAError else { return XCTFail("\(e)") }
            XCTAssertEqual(node, 63)
            XCTAssertEqual(tensor, "blk.0.attn_q.weight")
            XCTAssertTrue("\(e)".contains("cannot bind"), "\(e)")
        }
    }

    // MARK: - Configuration

    func testConfigDecodesWithoutNUMAAndModeDoesNotBlockResume() throws {
        let old = try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"learningRate": 0.001, "threads": 2}"#.utf8))
        XCTAssertEqual(old.numa, .auto)
        var c = TrainingConfig()
        c.numa = .distribute
        let back = try JSONDecoder().decode(TrainingConfig.self, from: try JSONEncoder().encode(c))
        XCTAssertEqual(back.numa, .distribute)
        XCTAssertThrowsError(try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"numa": "everywhere"}"#.utf8)))
        var other = c
        other.numa = .off
        XCTAssertEqual(CheckpointHeader.flatten(c.resumeDefining), CheckpointHeader.flatten(other.resumeDefining))
        XCTAssertEqual(CheckpointHeader.flatten(old.resumeDefining)["numa"], CheckpointHeader.flatten(c.resumeDefining)["numa"])
    }
}
