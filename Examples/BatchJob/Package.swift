// swift-tools-version:6.1
// A batch job that embeds LoRAKit: one base model loaded once, one adapter fine-tuned per dataset.
import PackageDescription

let package = Package(
    name: "BatchJob",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "LoRAKit", path: "../..")],
    targets: [
        .executableTarget(name: "BatchJob", dependencies: [.product(name: "LoRAKit", package: "LoRAKit")]),
    ]
)
