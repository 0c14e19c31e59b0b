import Foundation
import XCTest

/// `lorakit topology` as a user runs it.
final class TopologyTests: XCTestCase {
    struct Report: Decodable {
        struct Topology: Decodable {
            struct Node: Decodable { var id: Int; var cpus: [Int]; var memoryBytes: Int64 }
            var nodes: [Node]
            var allowedCPUs: [Int]
            var memoryPolicy: String
        }
        struct Plan: Decodable {
            struct Group: Decodable { var node: Int?; var workers: [Int]; var cpus: [Int] }
            var mode: String
            var threads: Int
            var workerCPUs: [Int]?
            var groups: [Group]
            var placesWeights: Bool
        }
        var topology: Topology
        var plan: Plan
    }

    func report(_ args: [String]) throws -> Report {
        let r = try runLorakit(["topology", "--json"] + args)
        XCTAssertEqual(r.status, 0, r.stderr)
        return try JSONDecoder().decode(Report.self, from: Data(r.stdout.utf8))
    }

    func testTextReport() throws {
        let r = try runLorakit(["topology"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for key in ["node 0:", "distances:", "allowed CPUs:", "memory policy:", "run mode:", "workers:", "weights:"] {
            XCTAssertTrue(r.stdout.contains(key), "missing \(key) in\n\(r.stdout)")
        }
    }

    func testJSONAndModes() throws {
        let auto = try report([])
        XCTAssertFalse(auto.topology.nodes.isEmpty)
        XCTAssertFalse(auto.topology.allowedCPUs.isEmpty)
        XCTAssertGreaterThan(auto.topology.nodes[0].memoryBytes, 0)
        XCTAssertNotEqual(auto.plan.mode, "auto")
        let d = try report(["--numa", "distribute", "--threads", "3"])
        XCTAssertEqual(d.plan.mode, "distribute")
        XCTAssertEqual(d.plan.threads, 3)
        XCTAssertEqual(d.plan.workerCPUs?.count, 3)
        for cpu in d.plan.workerCPUs ?? [] { XCTAssertTrue(d.topology.allowedCPUs.contains(cpu)) }
        let off = try report(["--numa", "off", "--threads", "5"])
        XCTAssertEqual(off.plan.threads, 5)
        XCTAssertNil(off.plan.workerCPUs)
        XCTAssertFalse(off.plan.placesWeights)
        let iso = try report(["--numa", "isolate"])
        XCTAssertEqual(iso.plan.groups.count, 1)
        XCTAssertEqual(iso.plan.groups[0].node, auto.topology.nodes.first { $0.cpus.contains(auto.topology.allowedCPUs[0]) }?.id)
    }

    func testRespectsTaskset() throws {
        let taskset = URL(fileURLWithPath: "/usr/bin/taskset")
        guard FileManager.default.isExecutableFile(atPath: taskset.path) else { throw XCTSkip("no taskset") }
        let all = try report([]).topology.allowedCPUs
        let last = try XCTUnwrap(all.last)
        let p = Process()
        p.executableURL = taskset
        p.arguments = ["-c", "\(last)", productsDirectory.appendingPathComponent("lorakit").path,
                       "topology", "--json", "--numa", "distribute"]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let r = try JSONDecoder().decode(Report.self, from: data)
        XCTAssertEqual(r.topology.allowedCPUs, [last])
        XCTAssertEqual(r.plan.workerCPUs, [last])
    }

    func testModelWeightsPerNode() throws {
        let path = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
            ?? NSString(string: "~/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf").expandingTildeInPath
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no model at \(path) (set LORAKIT_MODEL)") }
        struct WithModel: Decodable {
            var weightBytes: Int
            var weightBytesPerNode: [String: Int]
            var plan: Report.Plan
        }
        let r = try runLorakit(["topology", "--json", "--model", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let w = try JSONDecoder().decode(WithModel.self, from: Data(r.stdout.utf8))
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
        XCTAssertGreaterThan(w.weightBytes, size / 2)
        XCTAssertLessThan(w.weightBytes, size)
        if w.plan.placesWeights {
            XCTAssertEqual(w.weightBytesPerNode.values.reduce(0, +), w.weightBytes)
        } else {
            XCTAssertTrue(w.weightBytesPerNode.isEmpty)
        }
        let text = try runLorakit(["topology", "--model", path])
        XCTAssertTrue(text.stdout.contains("model matrices:"), text.stdout)
        let missing = try runLorakit(["topology", "--model", "/nonexistent/model.gguf"])
        XCTAssertNotEqual(missing.status, 0)
    }

    func testBadArgumentsFail() throws {
        XCTAssertNotEqual(try runLorakit(["topology", "--threads", "0"]).status, 0)
        let bad = try runLorakit(["topology", "--numa", "sideways"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("sideways"), bad.stderr)
    }
}
