import Foundation
import XCTest
@testable import LoRAKit

/// Golden files written by scripts/fixtures/*.py (transformers, PEFT), and the default model.
enum GoldenFixture {
    static var directory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures")
    }

    static func json(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: directory.appendingPathComponent(path))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw XCTSkip("fixture \(path) is not a JSON object")
        }
        return obj
    }

    static func floats(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: directory.appendingPathComponent(path))
        return data.withUnsafeBytes { raw in Array(raw.bindMemory(to: Float.self)) }
    }

    /// The SmolLM2 GGUF: $LORAKIT_MODEL or the cache path `make test` fetches into.
    static func smolLM2Path() throws -> String {
        try cachedModelPath(env: "LORAKIT_MODEL", file: "SmolLM2-135M-Instruct.Q4_1.gguf", fetch: "make model` (scripts/fetch-model")
    }

    /// The Gemma 3 270M GGUF: $LORAKIT_GEMMA_MODEL or the cache path `scripts/fetch-model gemma3-270m` fetches into.
    static func gemma3Path() throws -> String {
        try cachedModelPath(env: "LORAKIT_GEMMA_MODEL", file: "gemma-3-270m-q4_k_m.gguf", fetch: "scripts/fetch-model gemma3-270m")
    }

    static func cachedModelPath(env: String, file: String, fetch: String) throws -> String {
        let path = ProcessInfo.processInfo.environment[env] ?? (NSHomeDirectory() + "/.cache/lorakit/models/" + file)
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("model not found at \(path); run `\(fetch)` to fetch it")
        }
        return path
    }

    /// Loads the SmolLM2 weights once per test process.
    static func smolLM2() throws -> ModelWeights { try loadOnce(try smolLM2Path()) }

    /// Loads the Gemma 3 270M weights once per test process.
    static func gemma3() throws -> ModelWeights { try loadOnce(try gemma3Path()) }

    static func loadOnce(_ path: String) throws -> ModelWeights {
        try loadedModels.withLock { cache in
            if let m = cache[path] { return m }
            let m = try ModelWeights.load(path: path)
            cache[path] = m
            return m
        }
    }

    static let loadedModels = LockedBox<[String: ModelWeights]>([:])

    static func ints(_ any: Any?) -> [Int32] { (any as? [Any] ?? []).map { Int32(truncating: $0 as? NSNumber ?? 0) } }
    static func ints2(_ any: Any?) -> [Int32] { (any as? [Any] ?? []).flatMap { ints($0) } }
}

/// A value behind a lock, for caches shared by tests.
final class LockedBox<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func withLock<R>(_ body: (inout T) throws -> R) rethrows -> R {
        lock.lock(); defer { lock.unlock() }
        return try body(&value)
    }
}

/// ‖a − b‖ / ‖b‖ in double.
func relativeError(_ a: [Float], _ b: [Float]) -> Double {
    var num = 0.0, den = 0.0
    for i in 0..<min(a.count, b.count) {
        let d = Double(a[i]) - Double(b[i])
        num += d * d
        den += Double(b[i]) * Double(b[i])
    }
    return (num / max(den, 1e-300)).squareRoot()
}
