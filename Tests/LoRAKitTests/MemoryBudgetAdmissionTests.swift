import Foundation
import XCTest
@testable import LoRAKit

/// Admission control with injected limits, reading cgroup v1/v2 and /proc/meminfo from a fake tree,
/// and size parsing.
final class MemoryBudgetAdmissionTests: XCTestCase {
    let preset = ModelFootprint.preset(config: ModelPreset.llama31_8b.config, name: "llama-3.1-8b", quantization: .q8_0)
    var config: TrainingConfig {
        TrainingConfig(lora: LoRAConfig(rank: 16, alpha: 32, targets: LoRATarget.allCases), batchSize: 4, sequenceLength: 2048,
                       threads: 16, checkpointing: false)
    }

    func testRefusesWithCheapestChangesFirst() throws {
        let full = MemoryBudget.estimate(model: preset, config: config)
        var on = config; on.checkpointing = true
        let withCkpt = MemoryBudget.estimate(model: preset, config: on)
        // Room for the checkpointed run but not the other.
        let limit = MemoryLimit(memAvailable: (full.peakBytes + withCkpt.peakBytes) / 2)
        let d = Admission.decide(model: preset, config: config, limit: limit)
        XCTAssertFalse(d.fits)
        XCTAssertEqual(d.budget.peakBytes, full.peakBytes)
        XCTAssertEqual(d.suggestions.first?.change, "checkpointing on")
        XCTAssertEqual(d.suggestions.first?.peakBytes, withCkpt.peakBytes)
        for s in d.suggestions { XCTAssertLessThanOrEqual(s.peakBytes, d.available!, s.change) }
        XCTAssertTrue(d.suggestions.contains { $0.change.hasPrefix("batch size 2, gradient accumulation 2") || $0.change.hasPrefix("batch size 1") })
        XCTAssertThrowsError(try Admission.enforce(d)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.contains("nothing was allocated"), text)
            XCTAssertTrue(text.contains("checkpointing on"), text)
        }
    }

    func testSuggestsCombinationsAndFourBitWhenCheckpointingIsNotEnough() throws {
        var on = config; on.checkpointing = true
        let withCkpt = MemoryBudget.estimate(model: preset, config: on)
        let limit = MemoryLimit(cgroupLimit: withCkpt.peakBytes - (1 << 30), cgroupUsage: 0)
        let d = Admission.decide(model: preset, config: config, limit: limit)
        XCTAssertFalse(d.fits)
        XCTAssertFalse(d.suggestions.isEmpty)
        XCTAssertFalse(d.suggestions.contains { $0.change == "checkpointing on" })
        XCTAssertTrue(d.suggestions.contains { $0.change.hasPrefix("checkpointing on, batch size") }, "\(d.suggestions.map(\.change))")
        XCTAssertTrue(d.suggestions.contains { $0.quantization == "q4_1" }, "\(d.suggestions.map(\.change))")
        for s in d.suggestions { XCTAssertLessThanOrEqual(s.peakBytes, d.available!, s.change) }
        XCTAssertTrue(d.limitSource.hasPrefix("cgroup limit"))
    }

    func testMaxMemoryChoosesCheckpointing() throws {
        let full = MemoryBudget.estimate(model: preset, config: config)
        var on = config; on.checkpointing = true
        let withCkpt = MemoryBudget.estimate(model: preset, config: on)
        let cap = MemoryLimit(memAvailable: 1 << 50, userCap: withCkpt.peakBytes + 1)
        let d = Admission.decide(model: preset, config: config, limit: cap, autoCheckpointing: true)
        XCTAssertTrue(d.fits)
        XCTAssertTrue(d.config.checkpointing)
        XCTAssertEqual(d.notes.count, 1)
        XCTAssertEqual(d.limitSource, "memory cap")
        // A roomy cap keeps checkpointing off (faster), even when the config asked for it.
        let roomy = MemoryLimit(userCap: full.peakBytes + 1)
        let d2 = Admission.decide(model: preset, config: on, limit: roomy, autoCheckpointing: true)
        XCTAssertTrue(d2.fits)
        XCTAssertFalse(d2.config.checkpointing)
        XCTAssertNoThrow(try Admission.enforce(d2))
        // Unknown memory: admitted.
        XCTAssertTrue(Admission.decide(model: preset, config: config, limit: MemoryLimit()).fits)
    }

    func testOwnResidentCountsAsUsable() {
        let l = MemoryLimit(memAvailable: 1000, cgroupLimit: 5000, cgroupUsage: 4500, cgroupReclaimable: 300)
        XCTAssertEqual(l.available(), 800)              // cgroup: 5000 − (4500 − 300)
        XCTAssertEqual(l.available(ownResident: 100), 900)
        XCTAssertEqual(MemoryLimit(memAvailable: 1000, userCap: 700).available(ownResident: 100), 700)
    }

    func testReadsCgroupV2AndMeminfoFromTree() throws {
        let root = try tree([
            "proc/meminfo": "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   20000000 kB\n",
            "proc/self/cgroup": "0::/user.slice/job\n",
            "sys/fs/cgroup/user.slice/job/memory.max": "8589934592\n",
            "sys/fs/cgroup/user.slice/job/memory.current": "1073741824\n",
            "sys/fs/cgroup/user.slice/job/memory.stat": "anon 100\nfile 900\ninactive_file 536870912\nactive_file 0\n",
        ])
        let m = MemoryLimit.current(root: root)
        XCTAssertEqual(m.memAvailable, 20_000_000 * 1024)
        XCTAssertEqual(m.memTotal, 24_000_000 * 1024)
        XCTAssertEqual(m.cgroupLimit, 8 << 30)
        XCTAssertEqual(m.available(), (8 << 30) - (1 << 30) + (512 << 20))
    }

    func testReadsCgroupV1AndIgnoresUnlimited() throws {
        let v1 = try tree([
            "proc/meminfo": "MemAvailable:   1000 kB\n",
            "proc/self/cgroup": "12:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
            "sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "4294967296\n",
            "sys/fs/cgroup/memory/docker/abc/memory.usage_in_bytes": "100\n",
            "sys/fs/cgroup/memory/docker/abc/memory.stat": "cache 5\ntotal_inactive_file 40\n",
        ])
        let m = MemoryLimit.current(root: v1)
        XCTAssertEqual(m.cgroupLimit, 4 << 30)
        XCTAssertEqual(m.cgroupReclaimable, 40)
        XCTAssertEqual(m.available(), 1000 * 1024)      // MemAvailable is smaller here
        let unlimited = try tree([
            "proc/self/cgroup": "0::/\n",
            "sys/fs/cgroup/memory.max": "max\n",
            "sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
        ])
        XCTAssertNil(MemoryLimit.current(root: unlimited).cgroupLimit)
        XCTAssertNil(MemoryLimit.current(root: unlimited).available())
    }

    func testParseSize() {
        XCTAssertEqual(MemoryLimit.parseSize("6GB"), 6_000_000_000)
        XCTAssertEqual(MemoryLimit.parseSize("6G"), 6 << 30)
        XCTAssertEqual(MemoryLimit.parseSize("1.5GiB"), 3 << 29)
        XCTAssertEqual(MemoryLimit.parseSize("512mib"), 512 << 20)
        XCTAssertEqual(MemoryLimit.parseSize(" 300 MB "), 300_000_000)
        XCTAssertEqual(MemoryLimit.parseSize("123456"), 123_456)
        XCTAssertNil(MemoryLimit.parseSize("lots"))
        XCTAssertNil(MemoryLimit.parseSize("-1GB"))
        XCTAssertNil(MemoryLimit.parseSize("0"))
    }

    private func tree(_ files: [String: String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("lorakit-cg-\(UUID().uuidString)").path
        addTeardownBlock { try? FileManager.default.removeItem(atPath: root) }
        for (p, text) in files {
            let full = root + "/" + p
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: false, encoding: .utf8)
        }
        return root
    }
}
