// swift-tools-version:6.1
// A downstream package that depends on LoRAKit by path: it must build without any flags,
// which proves LoRAKit uses no unsafeFlags and its system libraries resolve via pkg-config.
import PackageDescription

let package = Package(
    name: "Consumer",
    dependencies: [.package(name: "LoRAKit", path: "../..")],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [.product(name: "LoRAKit", package: "LoRAKit")]),
    ]
)
