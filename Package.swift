// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "LoRAKit",
    platforms: [.macOS(.v13)],
    // MARK: - Public API
    products: [
        .library(name: "LoRAKit", targets: ["LoRAKit"]),
        // Data-parallel training over MPI (links Open MPI); library users who don't need it never link it.
        .library(name: "LoRAKitMPI", targets: ["LoRAKitMPI"]),
        .executable(name: "lorakit", targets: ["LoRAKitCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: - Implementation
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),
        .systemLibrary(
            name: "CNuma", path: "Sources/CNuma", pkgConfig: "numa",
            providers: [.apt(["libnuma-dev"])]),
        .systemLibrary(
            name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi",
            providers: [.apt(["libopenmpi-dev"]), .brew(["open-mpi"])]),
        // All SIMD lives here. ISA is chosen per function with target attributes and a
        // run-time CPU check, so no unsafeFlags are needed and the package stays usable
        // as a dependency.
        .target(
            name: "CKernels", dependencies: ["COpenBLAS"], path: "CKernels",
            cSettings: [.define("_GNU_SOURCE")],
            linkerSettings: [.linkedLibrary("m"), .linkedLibrary("pthread")]),
        .target(
            name: "LoRAKit", dependencies: ["CKernels", "COpenBLAS", "CNuma"],
            path: "Sources/LoRAKit"),
        .target(name: "LoRAKitMPI", dependencies: ["LoRAKit", "CMPI"], path: "Sources/LoRAKitMPI"),
        // The CLI target is LoRAKitCLI (its product, the binary, is `lorakit`): names that differ
        // only in case from LoRAKit collide on case-insensitive file systems.
        .executableTarget(
            name: "LoRAKitCLI",
            dependencies: ["LoRAKit", "LoRAKitMPI", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/LoRAKitCLI"),
        // MARK: - Tests
        .testTarget(name: "CKernelsTests", dependencies: ["CKernels"], path: "Tests/CKernelsTests"),
        .testTarget(
            name: "LoRAKitTests", dependencies: ["LoRAKit", "CKernels"], path: "Tests/LoRAKitTests"),
        .testTarget(name: "LoRAKitCLITests", dependencies: ["LoRAKitCLI"], path: "Tests/LoRAKitCLITests"),
    ],
    swiftLanguageModes: [.v5]
)
