import LoRAKit
import XCTest

/// Plans on injected topologies: pure functions, so any machine shape can be tested here.
final class NUMAPlanTests: XCTestCase {
    /// A topology with `cpusPerNode[i]` consecutive CPUs on node `ids[i]`, 64 GiB per node.
    func topo(_ cpusPerNode: [Int], ids: [Int]? = nil, allowed: [Int]? = nil, memoryless: Set<Int> = [],
              cores: [[Int]] = [], canBind: Bool = true) -> NUMATopology {
        var next = 0
        let ids = ids ?? Array(cpusPerNode.indices)
        let nodes = zip(ids, cpusPerNode).map { id, n -> NUMATopology.Node in
            defer { next += n }
            let mem: Int64 = memoryless.contains(id) ? 0 : 64 << 30
            return .init(id: id, cpus: Array(next..<(next + n)), memoryBytes: mem, freeBytes: mem / 2)
        }
        let dist = ids.indices.map { i in ids.indices.map { j in i == j ? 10 : 10 + 11 * abs(i - j) } }
        return NUMATopology(nodes: nodes, distances: dist, allowedCPUs: allowed, cores: cores, canBindMemory: canBind)
    }

    /// Checks the invariants every plan must satisfy.
    func checkInvariants(_ p: NUMAPlan, _ t: NUMATopology, file: StaticString = #filePath, line: UInt = #line) {
        // groups: contiguous worker ranges covering 0..<threads, in node order
        var next = 0
        for g in p.groups {
            XCTAssertEqual(g.workers.lowerBound, next, file: file, line: line)
            XCTAssertFalse(g.workers.isEmpty, file: file, line: line)
            next = g.workers.upperBound
        }
        XCTAssertEqual(next, p.threads, file: file, line: line)
        let nodeIds = p.groups.compactMap(\.node)
        XCTAssertEqual(nodeIds, nodeIds.sorted(), file: file, line: line)
        if let cpus = p.workerCPUs {
            XCTAssertEqual(cpus.count, p.threads, file: file, line: line)
            let allowed = Set(t.allowedCPUs)
            for g in p.groups {
                for w in g.workers {
                    XCTAssertTrue(allowed.contains(cpus[w]), "worker \(w) on disallowed cpu \(cpus[w])", file: file, line: line)
                    XCTAssertEqual(t.node(ofCPU: cpus[w]), g.node, "worker \(w) off its node", file: file, line: line)
                    XCTAssertEqual(p.group(ofWorker: w), p.groups.firstIndex(of: g), file: file, line: line)
                }
            }
        } else {
            XCTAssertEqual(p.groups.count, 1, file: file, line: line)
            XCTAssertFalse(p.placesWeights, file: file, line: line)
        }
        // partitions for a few shapes, including ragged ones
        for (rows, align) in [(4096, 32), (14336, 64), (577, 16), (49152, 1), (3, 8), (0, 32)] {
            let parts = p.rowPartition(rows: rows, align: align)
            XCTAssertEqual(parts.count, p.groups.count, file: file, line: line)
            checkSplit(parts, count: rows, weights: p.groups.map(\.workers.count), align: align, file: file, line: line)
            // node ranges are unions of their workers' ranges (bitwise identity across modes)
            let wr = p.workerRows(rows: rows, align: align)
            for (g, part) in zip(p.groups, parts) {
                XCTAssertEqual(wr[g.workers.lowerBound].lowerBound, part.lowerBound, file: file, line: line)
                XCTAssertEqual(wr[g.workers.upperBound - 1].upperBound, part.upperBound, file: file, line: line)
            }
        }
    }

    /// Contiguous, exactly covering, aligned inner boundaries, proportional within `align`.
    func checkSplit(_ parts: [Range<Int>], count: Int, weights: [Int], align: Int,
                    file: StaticString = #filePath, line: UInt = #line) {
        var next = 0
        for r in parts {
            XCTAssertEqual(r.lowerBound, next, "not contiguous: \(parts)", file: file, line: line)
            next = r.upperBound
        }
        XCTAssertEqual(next, count, file: file, line: line)
        for r in parts.dropFirst() where r.lowerBound != count {
            XCTAssertEqual(r.lowerBound % align, 0, "unaligned boundary in \(parts)", file: file, line: line)
        }
        let total = Double(weights.reduce(0, +))
        for (r, w) in zip(parts, weights) {
            let exact = Double(count) * Double(w) / total
            XCTAssertLessThanOrEqual(abs(Double(r.count) - exact), Double(align), "\(parts) vs weights \(weights)",
                                     file: file, line: line)
        }
    }

    func testSingleNode() throws {
        let t = topo([8])
        let auto = try NUMAPlan.make(topology: t, mode: .auto)
        XCTAssertEqual(auto.mode, .off)
        XCTAssertEqual(auto.threads, 8)
        XCTAssertNil(auto.workerCPUs)
        XCTAssertEqual(auto.rowPartition(rows: 1000, align: 32), [0..<1000])
        checkInvariants(auto, t)
        let d = try NUMAPlan.make(topology: t, mode: .distribute)
        XCTAssertEqual(d.workerCPUs, Array(0..<8))
        XCTAssertFalse(d.placesWeights)
        XCTAssertEqual(d.poolCPUs, (0..<8).map { Int32($0) })
        checkInvariants(d, t)
    }

    func testTwoNodesDistribute() throws {
        let t = topo([8, 8])
        let p = try NUMAPlan.make(topology: t, mode: .auto)
        XCTAssertEqual(p.mode, .distribute)
        XCTAssertEqual(p.threads, 16)
        XCTAssertEqual(p.groups.map(\.workers), [0..<8, 8..<16])
        XCTAssertEqual(p.groups.map(\.cpus), [Array(0..<8), Array(8..<16)])
        XCTAssertTrue(p.placesWeights)
        XCTAssertEqual(p.partitionNodes, [0, 1])
        XCTAssertEqual(p.rowPartition(rows: 4096, align: 32), [0..<2048, 2048..<4096])
        XCTAssertEqual(p.rowPartition(rows: 100, align: 32), [0..<32, 32..<100])  // 50 rounds down to 32
        checkInvariants(p, t)
        let off = try NUMAPlan.make(topology: t, mode: .off)
        XCTAssertEqual(off.threads, 16)
        XCTAssertNil(off.workerCPUs)
        // worker rows depend only on the thread count: the same in every mode
        XCTAssertEqual(off.workerRows(rows: 5000, align: 16), p.workerRows(rows: 5000, align: 16))
        // align 1 reproduces lk_qmatmul_fwd's split of output rows: out·i/n
        for out in [576, 1536, 4099, 49152] {
            XCTAssertEqual(p.workerRows(rows: out, align: 1), (0..<16).map { (out * $0 / 16)..<(out * ($0 + 1) / 16) })
        }
    }

    func testFourNodesUneven() throws {
        let t = topo([4, 8, 2, 6])
        let p = try NUMAPlan.make(topology: t, mode: .distribute)
        XCTAssertEqual(p.groups.map(\.workers.count), [4, 8, 2, 6])
        XCTAssertEqual(p.groups.map(\.node), [0, 1, 2, 3])
        XCTAssertEqual(p.rowPartition(rows: 2000, align: 1), [0..<400, 400..<1200, 1200..<1400, 1400..<2000])
        checkInvariants(p, t)
        // 10 threads over cores 4:8:2:6 → quotas 2, 4, 1, 3
        let ten = try NUMAPlan.make(topology: t, threads: 10, mode: .distribute)
        XCTAssertEqual(ten.groups.map(\.workers.count), [2, 4, 1, 3])
        checkInvariants(ten, t)
        // fewer threads than nodes: the nodes with the most cores, one worker each
        let two = try NUMAPlan.make(topology: t, threads: 2, mode: .distribute)
        XCTAssertEqual(two.groups.map(\.node), [1, 3])
        XCTAssertEqual(two.workerCPUs, [4, 14])
        checkInvariants(two, t)
    }

    func testEightNodesWithGapsInIds() throws {
        let ids = [0, 1, 2, 3, 4, 5, 6, 9]
        let t = topo(Array(repeating: 12, count: 8), ids: ids)
        let p = try NUMAPlan.make(topology: t, mode: .auto)
        XCTAssertEqual(p.groups.compactMap(\.node), ids)
        XCTAssertEqual(p.partitionNodes, ids)
        XCTAssertEqual(p.threads, 96)
        checkInvariants(p, t)
        for n in [1, 7, 8, 9, 13, 95, 97, 200] {
            checkInvariants(try NUMAPlan.make(topology: t, threads: n, mode: .distribute), t)
        }
    }

    func testCPUSetExcludingCores() throws {
        // taskset -c 0-2,9-15 on two 8-CPU nodes
        let t = topo([8, 8], allowed: [0, 1, 2] + Array(9...15))
        let p = try NUMAPlan.make(topology: t, mode: .auto)
        XCTAssertEqual(p.groups.map(\.cpus), [[0, 1, 2], Array(9...15)])
        XCTAssertEqual(p.workerCPUs, [0, 1, 2] + Array(9...15))
        checkInvariants(p, t)
        // only node 1 allowed: auto does not distribute, isolate and distribute stay on node 1
        let one = topo([8, 8], allowed: [10, 11, 12])
        XCTAssertEqual(try NUMAPlan.make(topology: one, mode: .auto).mode, .off)
        XCTAssertEqual(try NUMAPlan.make(topology: one, mode: .auto).threads, 3)
        let iso = try NUMAPlan.make(topology: one, mode: .isolate)
        XCTAssertEqual(iso.groups.map(\.node), [1])
        XCTAssertEqual(iso.workerCPUs, [10, 11, 12])
        checkInvariants(iso, one)
        // isolate picks the node of the first allowed CPU
        let iso2 = try NUMAPlan.make(topology: topo([8, 8], allowed: Array(5...15)), mode: .isolate)
        XCTAssertEqual(iso2.workerCPUs, [5, 6, 7])
        XCTAssertFalse(iso2.placesWeights)
    }

    func testMoreThreadsThanCPUsAndSMT() throws {
        let t = topo([2, 2])
        let p = try NUMAPlan.make(topology: t, threads: 10, mode: .distribute)
        XCTAssertEqual(p.workerCPUs, [0, 1, 0, 1, 0, 2, 3, 2, 3, 2])
        XCTAssertFalse(p.notes.isEmpty)
        checkInvariants(p, t)
        // SMT: cores {0,4} {1,5} {2,6} {3,7}; one worker per core by default, siblings after
        let smt = topo([8], cores: [[0, 4], [1, 5], [2, 6], [3, 7]])
        XCTAssertEqual(try NUMAPlan.make(topology: smt, mode: .distribute).workerCPUs, [0, 1, 2, 3])
        XCTAssertEqual(try NUMAPlan.make(topology: smt, threads: 6, mode: .distribute).workerCPUs, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try NUMAPlan.make(topology: smt, mode: .off).threads, 4)
    }

    func testMemorylessNodeAndNoBinding() throws {
        let t = topo([4, 4, 4], memoryless: [1])
        let p = try NUMAPlan.make(topology: t, mode: .distribute)
        XCTAssertEqual(p.partitionNodes, [0, 0, 2])  // node 1 → nearest node with memory (ties: lowest id)
        XCTAssertTrue(p.placesWeights)
        checkInvariants(p, t)
        let nb = try NUMAPlan.make(topology: topo([4, 4], canBind: false), mode: .distribute)
        XCTAssertFalse(nb.placesWeights)
        XCTAssertEqual(nb.partitionNodes, [-1, -1])
        XCTAssertTrue(nb.notes.contains { $0.contains("binding is unavailable") })
    }

    func testInvalidInputsThrow() {
        XCTAssertThrowsError(try NUMAPlan.make(topology: topo([4]), threads: 0, mode: .auto)) {
            XCTAssertEqual($0 as? NUMAError, .invalidThreads(0))
        }
        XCTAssertThrowsError(try NUMAPlan.make(topology: topo([4]), threads: NUMAPlan.maxThreads + 1, mode: .off))
        XCTAssertEqual(try NUMAPlan.make(topology: topo([4]), threads: NUMAPlan.maxThreads, mode: .off).threads, NUMAPlan.maxThreads)
        XCTAssertThrowsError(try NUMAPlan.make(topology: topo([4], allowed: []), mode: .auto)) {
            XCTAssertEqual($0 as? NUMAError, .noAllowedCPUs)
        }
    }

    func testRandomTopologiesAndSplits() throws {
        var rng = SplitMix64(seed: 0x5EED_11)
        for _ in 0..<300 {
            let nodes = Int.random(in: 1...8, using: &rng)
            let cpus = (0..<nodes).map { _ in Int.random(in: 1...24, using: &rng) }
            let all = cpus.reduce(0, +)
            let allowed = (0..<all).filter { _ in Int.random(in: 0..<4, using: &rng) != 0 }
            guard !allowed.isEmpty else { continue }
            let t = topo(cpus, allowed: allowed)
            let mode = NUMAMode.allCases.randomElement(using: &rng)!
            let threads: Int? = Bool.random(using: &rng) ? nil : Int.random(in: 1...2 * all, using: &rng)
            let p = try NUMAPlan.make(topology: t, threads: threads, mode: mode)
            let node0 = t.node(ofCPU: allowed[0])!
            let expected = p.mode == .isolate ? t.allowedCPUs(onNode: node0).count : allowed.count
            XCTAssertEqual(p.threads, threads ?? expected)
            checkInvariants(p, t)
        }
        for _ in 0..<2000 {
            let k = Int.random(in: 1...9, using: &rng)
            let w = (0..<k).map { _ in Int.random(in: 1...40, using: &rng) }
            let count = Int.random(in: 0...100_000, using: &rng)
            let align = [1, 2, 16, 32, 64, 256].randomElement(using: &rng)!
            checkSplit(NUMAPlan.split(count: count, weights: w, align: align), count: count, weights: w, align: align)
        }
    }

    func testCodableRoundTrip() throws {
        let t = topo([4, 8, 2], allowed: [0, 1, 5, 6, 7, 12, 13], cores: [[0, 1]])
        let p = try NUMAPlan.make(topology: t, threads: 5, mode: .auto)
        XCTAssertEqual(try JSONDecoder().decode(NUMATopology.self, from: JSONEncoder().encode(t)), t)
        XCTAssertEqual(try JSONDecoder().decode(NUMAPlan.self, from: JSONEncoder().encode(p)), p)
    }
}
