import Foundation
import XCTest
@testable import LoRAKit

/// Sampler and streaming pieces: no model needed.
final class GenerateSamplerTests: XCTestCase {
    func randomLogits(_ n: Int, seed: UInt64) -> [Float] { SplitMix64.uniformSymmetric(seed: seed, count: n).map { $0 * 6 } }

    func testGreedyAndDegenerateFiltersPickTheArgmax() throws {
        let l = randomLogits(1000, seed: 1)
        let best = Int32(Sampler.argmax(l))
        XCTAssertEqual(l[Int(best)], l.max())
        var g = try Sampler(.greedy)
        XCTAssertEqual(g.sample(l), best)
        var k1 = try Sampler(SamplingOptions(temperature: 1.5, topK: 1, seed: 9))
        var p0 = try Sampler(SamplingOptions(temperature: 1.5, topP: 1e-6, seed: 9))
        for _ in 0..<20 { XCTAssertEqual(k1.sample(l), best); XCTAssertEqual(p0.sample(l), best) }
        XCTAssertEqual(Sampler.argmax([1, 3, 3, 2]), 1, "lowest id on ties")
    }

    func testSeededSamplingIsReproducibleAndFollowsSoftmax() throws {
        let l: [Float] = [2.0, 1.0, 0.5, -1.0, 0.0]
        let opts = SamplingOptions(temperature: 0.8, seed: 42)
        var a = try Sampler(opts), b = try Sampler(opts)
        var counts = [Int](repeating: 0, count: l.count)
        let n = 20000
        for _ in 0..<n {
            let x = a.sample(l)
            XCTAssertEqual(x, b.sample(l))
            counts[Int(x)] += 1
        }
        let e = l.map { exp(Double($0) / 0.8) }, z = e.reduce(0, +)
        for i in l.indices {
            XCTAssertEqual(Double(counts[i]) / Double(n), e[i] / z, accuracy: 0.015, "token \(i)")
        }
        var c = try Sampler(SamplingOptions(temperature: 0.8, seed: 43))
        var same = 0
        var d = try Sampler(opts)
        for _ in 0..<200 where c.sample(l) == d.sample(l) { same += 1 }
        XCTAssertLessThan(same, 200, "another seed gives another sequence")
    }

    func testTopPAndTopKKeepOnlyTheNucleus() throws {
        let l: [Float] = [3.0, 2.9, 0.0, -0.5, 2.8, -3]   // p ≈ .36 .33 .02 .01 .30 .00 at T=1
        var s = try Sampler(SamplingOptions(temperature: 1, topP: 0.65, seed: 5))
        var seen = Set<Int32>()
        for _ in 0..<2000 { seen.insert(s.sample(l)) }
        XCTAssertEqual(seen, [0, 1])
        var k = try Sampler(SamplingOptions(temperature: 1, topK: 3, seed: 5))
        seen = []
        for _ in 0..<2000 { seen.insert(k.sample(l)) }
        XCTAssertEqual(seen, [0, 1, 4])
    }

    func testInvalidOptionsThrow() {
        XCTAssertThrowsError(try Sampler(SamplingOptions(temperature: -1)))
        XCTAssertThrowsError(try Sampler(SamplingOptions(temperature: .infinity)))
        XCTAssertThrowsError(try Sampler(SamplingOptions(topP: 0)))
        XCTAssertThrowsError(try Sampler(SamplingOptions(topP: 1.5)))
        XCTAssertThrowsError(try Sampler(SamplingOptions(topK: -2)))
    }

    func testUTF8StreamSplitsOnlyOnCharacterBoundaries() {
        let text = "a€b😀c é"
        let bytes = Array(text.utf8)
        // Every way of cutting the bytes into two chunks, and byte by byte.
        for cut in 0...bytes.count {
            var s = UTF8Stream()
            let p1 = s.push(Array(bytes[0..<cut])), p2 = s.push(Array(bytes[cut...]))
            XCTAssertEqual(p1 + p2 + s.flush(), text)
            XCTAssertFalse(p1.contains("\u{FFFD}"))
        }
        var s = UTF8Stream()
        var pieces: [String] = []
        for b in bytes { let p = s.push([b]); if !p.isEmpty { pieces.append(p) } }
        XCTAssertEqual(pieces, ["a", "€", "b", "😀", "c", " ", "é"])
        var bad = UTF8Stream()
        XCTAssertEqual(bad.push([0xE2, 0x82]), "")
        XCTAssertEqual(bad.flush(), "\u{FFFD}")
    }
}
