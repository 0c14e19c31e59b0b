// swift-tools-version:6.1
// libFuzzer harnesses over LoRAKit's parsers. Build and run with `make fuzz` from the repository root
// (Linux: swift build -c release -Xswiftc -sanitize=fuzzer,address); see README.md.
import PackageDescription

let package = Package(
    name: "LoRAKitFuzz",
    dependencies: [.package(name: "LoRAKit", path: "..")],
    targets: [.target(name: "FuzzDriver", path: "Sources/FuzzDriver")]
        + ["FuzzGGUF", "FuzzSafetensors", "FuzzTokenizer", "FuzzJSONL"].map {
            .executableTarget(name: $0, dependencies: ["FuzzDriver", .product(name: "LoRAKit", package: "LoRAKit")],
                              path: "Sources/\($0)")
        }
)
