import CNuma
import Foundation
import LoRAKit
import XCTest

/// Placement and topology on the real machine (one node here): where pages sit, bytes kept.
final class NUMAPlacementTests: XCTestCase {
    /// A matrix over random bytes, starting `offset` bytes into its storage.
    func randomMatrix(_ type: GGMLType, rows: Int, cols: Int, offset: Int, seed: UInt64) throws -> QuantizedMatrix {
        let bytes = type.rowBytes(cols)! * rows + offset
        var rng = SplitMix64(seed: seed)
        let storage = ByteStorage.allocate(count: bytes) { p in
            for i in 0..<bytes { p.storeBytes(of: UInt8.random(in: 1...255, using: &rng), toByteOffset: i, as: UInt8.self) }
        }
        return try XCTUnwrap(QuantizedMatrix(type: type, rows: rows, cols: cols, storage: storage, offset: offset))
    }

    func assertSameBytes(_ a: QuantizedMatrix, _ b: QuantizedMatrix, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.byteCount, b.byteCount, file: file, line: line)
        let same = a.withUnsafeBytes { pa in b.withUnsafeBytes { pb in memcmp(pa, pb, a.byteCount) == 0 } }
        XCTAssertTrue(same, "placed bytes differ", file: file, line: line)
    }

    func requireBinding() throws -> NUMATopology {
        let t = NUMATopology.current()
        try XCTSkipUnless(t.canBindMemory, "NUMA syscalls unavailable here (numa_available() < 0)")
        return t
    }

    func testPlaceOnNodeKeepsBytesAndPagesSitOnTheNode() throws {
        let t = try requireBinding()
        let node = t.allowedMemoryNodes[0]
        // Q4_1, ragged rows; a page boundary falls inside rows (row = 2560 bytes)
        let m = try randomMatrix(.q4_1, rows: 997, cols: 4096, offset: 96, seed: 1)
        for policy in [NUMAPlacement.Policy.preferred, .bind] {
            let placed = try NUMAPlacement.place(m, partition: [0..<997], nodes: [node], name: "blk.0.ffn_up.weight", policy: policy)
            XCTAssertEqual(placed.rows, 997)
            XCTAssertEqual(placed.cols, 4096)
            XCTAssertEqual(placed.type, .q4_1)
            assertSameBytes(m, placed)
            let nodes = try placed.withUnsafeBytes { try NUMAPlacement.pageNodes(of: $0, count: placed.byteCount) }
            XCTAssertEqual(nodes.count, (placed.byteCount + NUMAPlacement.pageSize - 1) / NUMAPlacement.pageSize)
            XCTAssertEqual(Set(nodes), [node], "pages on nodes \(Set(nodes))")
            let last = placed.byteCount - 1
            for at in [0, placed.byteCount / 2, last] {
                let got = placed.withUnsafeBytes { CPUSet.memoryPolicy(at: $0 + at) }
                XCTAssertEqual(got.mode, policy.rawValue)
                XCTAssertEqual(got.nodes, [node])
            }
        }
    }

    func testPlaceWithSeveralPartsAndUnplacedPart() throws {
        let t = try requireBinding()
        // first and last allowed memory nodes: the same node here, two nodes on a multi-node machine
        let a = t.allowedMemoryNodes.first!, b = t.allowedMemoryNodes.last!
        let m = try randomMatrix(.q8_0, rows: 1531, cols: 576, offset: 0, seed: 2)
        let parts = NUMAPlan.split(count: 1531, weights: [3, 1, 2], align: 16)
        let placed = try NUMAPlacement.place(m, partition: parts, nodes: [a, -1, b], policy: .bind)
        assertSameBytes(m, placed)
        let nodes = try placed.withUnsafeBytes { try NUMAPlacement.pageNodes(of: $0, count: placed.byteCount) }
        // Each page carries the policy of the part owning it (a straddling page goes to the later
        // part); the unplaced part keeps the default policy and lands wherever it was touched.
        let page = NUMAPlacement.pageSize, rb = m.rowBytes
        let starts = parts.enumerated().map { g, r in g == 0 ? 0 : r.lowerBound * rb / page }
        let policies = [("bind", [a]), ("default", []), ("bind", [b])]
        placed.withUnsafeBytes { base in
            for p in 0..<nodes.count {
                let owner = starts.lastIndex { $0 <= p }!
                let got = CPUSet.memoryPolicy(at: base + p * page)
                XCTAssertEqual(got.mode, policies[owner].0, "page \(p)")
                XCTAssertEqual(got.nodes, policies[owner].1, "page \(p)")
                if owner == 1 {
                    XCTAssertGreaterThanOrEqual(nodes[p], 0, "page \(p)")
                } else {
                    XCTAssertEqual(nodes[p], owner == 0 ? a : b, "page \(p)")
                }
            }
        }
    }

    func testPageNodesSeesUntouchedPages() throws {
        _ = try requireBinding()
        let page = NUMAPlacement.pageSize
        let raw = try XCTUnwrap(mmap(nil, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0))
        defer { munmap(raw, 4 * page) }
        raw.storeBytes(of: 7, toByteOffset: 0, as: UInt8.self)
        raw.storeBytes(of: 7, toByteOffset: 2 * page + 5, as: UInt8.self)
        let nodes = try NUMAPlacement.pageNodes(of: raw + 100, count: 4 * page - 100)
        XCTAssertEqual(nodes.count, 4)
        XCTAssertGreaterThanOrEqual(nodes[0], 0)
        // untouched pages: -ENOENT on recent kernels, -EFAULT on 6.1
        XCTAssertTrue([-Int(ENOENT), -Int(EFAULT)].contains(nodes[1]), "\(nodes)")
        XCTAssertGreaterThanOrEqual(nodes[2], 0)
        XCTAssertTrue([-Int(ENOENT), -Int(EFAULT)].contains(nodes[3]), "\(nodes)")
        XCTAssertEqual(CPUSet.memoryPolicy(at: raw).mode, "default")
    }

    func testPlaceThroughAPlan() throws {
        let t = try requireBinding()
        let m = try randomMatrix(.q4_0, rows: 300, cols: 1024, offset: 18, seed: 3)
        for mode in NUMAMode.allCases {
            let plan = try NUMAPlan.make(topology: t, mode: mode)
            let placed = try NUMAPlacement.place(m, plan: plan, align: 32)
            assertSameBytes(m, placed)
            XCTAssertEqual(NUMAPlacement.bytesPerNode([m], plan: plan, align: 32).isEmpty, !plan.placesWeights)
        }
        // A two-node plan on this one-node machine: both parts bound to node 0 by hand.
        let two = NUMATopology(nodes: [.init(id: 0, cpus: [0], memoryBytes: 1 << 30, freeBytes: 1 << 29),
                                       .init(id: 1, cpus: [1], memoryBytes: 1 << 30, freeBytes: 1 << 29)])
        let plan = try NUMAPlan.make(topology: two, mode: .auto)
        XCTAssertTrue(plan.placesWeights)
        XCTAssertEqual(NUMAPlacement.bytesPerNode([m], plan: plan, align: 32), [0: 128 * m.rowBytes, 1: 172 * m.rowBytes])
        let placed = try NUMAPlacement.place(m, partition: plan.rowPartition(rows: 300, align: 32), nodes: [0, 0])
        assertSameBytes(m, placed)
    }

    /// Runs only where the process may use more than one memory node (a multi-socket server, or
    /// a guest with several NUMA nodes): each part's pages must sit on its planned node.
    func testDistributedPlacementOnAMultiNodeMachine() throws {
        let t = try requireBinding()
        let plan = try NUMAPlan.make(topology: t, mode: .distribute)
        try XCTSkipUnless(plan.placesWeights, "one memory node here; runs on multi-node machines")
        let m = try randomMatrix(.q4_0, rows: 4099, cols: 4096, offset: 0, seed: 5)
        let placed = try NUMAPlacement.place(m, plan: plan, align: 32, name: "w", policy: .bind)
        assertSameBytes(m, placed)
        let page = NUMAPlacement.pageSize
        let nodes = try placed.withUnsafeBytes { try NUMAPlacement.pageNodes(of: $0, count: placed.byteCount) }
        for (g, r) in plan.rowPartition(rows: m.rows, align: 32).enumerated() where !r.isEmpty {
            // pages wholly inside the part
            let first = (r.lowerBound * m.rowBytes + page - 1) / page
            let end = r.upperBound * m.rowBytes / page
            guard end > first else { continue }
            XCTAssertEqual(Set(nodes[first..<end]), [plan.groups[g].memoryNode!], "part \(g) rows \(r)")
        }
    }

    func testBadPartitionsAndNodesThrow() throws {
        let t = try requireBinding()
        let node = t.allowedMemoryNodes[0]
        let m = try randomMatrix(.q8_0, rows: 64, cols: 64, offset: 0, seed: 4)
        let bad: [([Range<Int>], [Int])] = [
            ([0..<32, 33..<64], [node, node]),  // gap
            ([0..<32, 32..<60], [node, node]),  // short
            ([0..<64], [node, node]),           // count mismatch
            ([], []),
        ]
        for (p, n) in bad {
            XCTAssertThrowsError(try NUMAPlacement.place(m, partition: p, nodes: n, name: "w")) { e in
                guard case .badPartition(let tensor, _) = e as? NUMAError else { return XCTFail("\(e)") }
                XCTAssertEqual(tensor, "w")
            }
        }
        let absent = (t.nodes.map(\.id).max() ?? 0) + 7
        XCTAssertThrowsError(try NUMAPlacement.place(m, partition: [0..<64], nodes: [absent], name: "w", policy: .bind)) { e in
            guard case .bindFailed(let tensor, let n, _, _) = e as? NUMAError else { return XCTFail("\(e)") }
            XCTAssertEqual(tensor, "w")
            XCTAssertEqual(n, absent)
            XCTAssertTrue("\(e)".contains("NUMA node \(absent)"))
        }
    }

    func testCurrentTopologyMatchesProcStatus() throws {
        let t = NUMATopology.current()
        XCTAssertFalse(t.nodes.isEmpty)
        XCTAssertEqual(t.distances.count, t.nodes.count)
        for (i, row) in t.distances.enumerated() {
            XCTAssertEqual(row.count, t.nodes.count)
            XCTAssertEqual(row[i], 10)
        }
        XCTAssertGreaterThan(t.nodes.reduce(0) { $0 + $1.memoryBytes }, 0)
        // Independent source: the union of every thread's Cpus_allowed_list in /proc.
        var expected = Set<Int>()
        for tid in try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") {
            guard let status = try? String(contentsOfFile: "/proc/self/task/\(tid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed_list:") }),
                  let list = CPUSet.parseList(String(line.split(separator: ":")[1])) else { continue }
            expected.formUnion(list)
        }
        XCTAssertEqual(t.allowedCPUs, expected.sorted())
        for cpu in t.allowedCPUs { XCTAssertNotNil(t.node(ofCPU: cpu), "cpu \(cpu) in no node") }
        XCTAssertFalse(t.allowedMemoryNodes.isEmpty)
        XCTAssertFalse(t.memoryPolicy.isEmpty)
        let mine = try XCTUnwrap(CPUSet.threadAffinity())
        XCTAssertTrue(Set(mine).isSubset(of: Set(t.allowedCPUs)))
        let plan = try NUMAPlan.make(topology: t, mode: .auto)
        XCTAssertEqual(plan.mode, t.nodes.filter { !t.allowedCPUs(onNode: $0.id).isEmpty }.count > 1 ? .distribute : .off)
    }

    /// `numactl --membind/--interleave/--preferred` set the task's policy; read it back from a
    /// thread whose policy is set here (the policy belongs to the thread and dies with it).
    func testMemoryPolicyIsReported() throws {
        let t = try requireBinding()
        let node = t.allowedMemoryNodes[0]
        for (mode, name) in [(MPOL_BIND, "bind"), (MPOL_INTERLEAVE, "interleave"), (MPOL_PREFERRED, "preferred")] {
            final class Seen: @unchecked Sendable { var policy = ("", [Int]()); var topology: NUMATopology? }
            let seen = Seen()
            let done = DispatchSemaphore(value: 0)
            let th = Thread {
                var mask = [UInt](repeating: 0, count: node / UInt.bitWidth + 1)
                mask[node / UInt.bitWidth] |= 1 << UInt(node % UInt.bitWidth)
                if set_mempolicy(Int32(mode), mask, UInt(mask.count * UInt.bitWidth + 1)) == 0 {
                    seen.policy = CPUSet.memoryPolicy()
                    seen.topology = NUMATopology.current()
                }
                done.signal()
            }
            th.start()
            done.wait()
            XCTAssertEqual(seen.policy.0, name)
            XCTAssertEqual(seen.policy.1, [node])
            XCTAssertEqual(seen.topology?.memoryPolicy, "\(name):\(node)")
            if name == "bind" { XCTAssertEqual(seen.topology?.allowedMemoryNodes, [node]) }
        }
        XCTAssertEqual(CPUSet.memoryPolicy().mode, "default")
    }

    func testCPUListParsingAndFormatting() {
        XCTAssertEqual(CPUSet.parseList("0-3,8,10-11\n"), [0, 1, 2, 3, 8, 10, 11])
        XCTAssertEqual(CPUSet.parseList(""), [])
        XCTAssertNil(CPUSet.parseList("3-1"))
        XCTAssertNil(CPUSet.parseList("a"))
        XCTAssertNil(CPUSet.parseList("1,,2"))
        XCTAssertEqual(CPUSet.format([11, 0, 1, 2, 3, 8, 10]), "0-3,8,10-11")
        XCTAssertEqual(CPUSet.format([]), "none")
        var rng = SplitMix64(seed: 9)
        for _ in 0..<200 {
            let list = Array(Set((0..<Int.random(in: 1...40, using: &rng)).map { _ in Int.random(in: 0..<300, using: &rng) })).sorted()
            XCTAssertEqual(CPUSet.parseList(CPUSet.format(list)), list)
        }
    }
}
