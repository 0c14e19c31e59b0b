import Foundation
import XCTest

struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Folder holding the built products (the test bundle sits next to the `lorakit` binary).
var productsDirectory: URL {
    #if os(macOS)
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent()
    }
    fatalError("couldn't find the products directory")
    #else
    return Bundle.main.bundleURL
    #endif
}

/// Runs `lorakit` with arguments and returns its exit status and output.
func runLorakit(_ args: [String], environment: [String: String]? = nil, stdin: String? = nil) throws -> ProcessResult {
    let p = Process()
    p.executableURL = productsDirectory.appendingPathComponent("lorakit")
    p.arguments = args
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = inPipe
    try p.run()
    if let stdin { inPipe.fileHandleForWriting.write(Data(stdin.utf8)) }
    try inPipe.fileHandleForWriting.close()
    // Read both pipes fully before waiting, so a large output cannot block the child.
    var outData = Data(), errData = Data()
    let g = DispatchGroup()
    g.enter(); DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); g.leave() }
    g.enter(); DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); g.leave() }
    g.wait()
    p.waitUntilExit()
    return ProcessResult(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// The default model ($LORAKIT_MODEL or the cache path `make model` fetches into); skips when absent.
func defaultModelPath() throws -> String {
    let p = ProcessInfo.processInfo.environment["LORAKIT_MODEL"]
        ?? NSHomeDirectory() + "/.cache/lorakit/models/SmolLM2-135M-Instruct.Q4_1.gguf"
    guard FileManager.default.fileExists(atPath: p) else { throw XCTSkip("default model absent at \(p); run `make model`") }
    return p
}

/// The repository's root folder.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// `args` plus each default option it does not give itself (options may be given only once).
func withDefaults(_ args: [String], _ defaults: KeyValuePairs<String, String>) -> [String] {
    var out = args
    for (k, v) in defaults where !args.contains(k) { out += [k, v] }
    return out
}

/// Starts `executable` (default: the built `lorakit`) without waiting; stdout and stderr go to the file `log`
/// (a full pipe can never block it), stdin is empty.
func launchProcess(_ args: [String], log: String, executable: URL? = nil, environment: [String: String]? = nil) throws -> Process {
    let p = Process()
    p.executableURL = executable ?? productsDirectory.appendingPathComponent("lorakit")
    p.arguments = args
    if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    FileManager.default.createFile(atPath: log, contents: nil)
    let h = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    p.standardOutput = h
    p.standardError = h
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return p
}

/// The Python PEFT fixture adapter (SmolLM2, r=4 on q/k/v/o).
let peftFixtureAdapter = repositoryRoot.appendingPathComponent("Tests/Fixtures/peft/adapter").path
