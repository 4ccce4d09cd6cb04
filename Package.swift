// swift-tools-version:6.0
import PackageDescription

// Dependencies, and why:
// - swift-argument-parser: every command line (broker, CLI, bench) gets --help and validation for free.
// - swift-log: libraries take a Logger; the executables choose the handler.
// - Yams: the gateway's policy file and the CURVE keys files are YAML, and a bad file must be refused
//   naming its line; Yams gives node positions (a small C parser, libyaml, builds in seconds).
let package = Package(
    name: "Parley",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "parley-broker", targets: ["parley-broker"]),
        .executable(name: "parley-gateway", targets: ["parley-gateway"]),
        .executable(name: "parley", targets: ["parley"]),
        .library(name: "Parley", targets: ["Parley"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ"]),
        .target(name: "ParleyWire"),
        .target(
            name: "ParleyBroker",
            dependencies: ["ZeroMQ", "ParleyWire", "ParleyPolicy", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "ParleyPolicy",
            dependencies: ["ParleyWire", "ZeroMQ", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "ParleyGateway",
            dependencies: ["ZeroMQ", "ParleyWire", "ParleyPolicy", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Parley",
            dependencies: ["ZeroMQ", "ParleyWire", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "parley-broker",
            dependencies: [
                "ParleyBroker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "parley-gateway",
            dependencies: [
                "ParleyGateway", "ParleyPolicy",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "parley",
            dependencies: [
                "Parley", "ParleyWire", "ParleyPolicy", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "parley-bench",
            dependencies: [
                "ZeroMQ", "ParleyWire", "Parley",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/Sources/parley-bench"
        ),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ"]),
        .testTarget(name: "ParleyWireTests", dependencies: ["ParleyWire"]),
        .testTarget(name: "ParleyBrokerTests", dependencies: ["ParleyBroker", "ParleyWire"]),
        .testTarget(name: "ParleyPolicyTests", dependencies: ["ParleyPolicy", "ParleyWire"]),
        .testTarget(name: "ParleyGatewayTests", dependencies: ["ParleyGateway", "ParleyPolicy", "ParleyWire"]),
        .testTarget(name: "ParleyTests", dependencies: ["Parley", "ParleyWire", "ZeroMQ"]),
    ],
    swiftLanguageModes: [.v6]
)
