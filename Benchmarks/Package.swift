// swift-tools-version:6.1
// Benchmarks live in their own package so that library users never pull in package-benchmark.
// Run: cd Benchmarks && swift package benchmark
import PackageDescription

let package = Package(
    name: "LoRAKitBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "LoRAKit", path: ".."),
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "Kernels",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "LoRAKit", package: "LoRAKit"),
            ],
            path: "Benchmarks/Kernels",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]),
        // Forward pass and training step (fp32, bf16) with regression thresholds in Thresholds/: `make bench`.
        .executableTarget(
            name: "Model",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "LoRAKit", package: "LoRAKit"),
            ],
            path: "Benchmarks/Model",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]),
    ]
)
