// swift-tools-version:6.0
import PackageDescription

// Dependencies, and why:
// - swift-argument-parser: every command line (broker, CLI, bench) gets --help and validation for free.
// - swift-log: libraries take a Logger; the executables choose the handler.
// - Yams: the gateway's policy file and the CURVE keys files are YAML, and a bad file must be refused
//   naming its line; Yams gives node positions (a small C parser, libyaml, builds in seconds).
// - swift-metrics + swift-prometheus: the processes' /metrics (issue 7). swift-metrics is the API the executables
//   record through; swift-prometheus renders the text format. Together with swift-atomics they add ~11 s to a clean
//   debug build on 2 cores (measured on a scratch package).
// - swift-collections (HeapModule): the broker's and the agents' timers (issue 16: no hand-written heap). The package
//   is already resolved for swift-service-lifecycle; HeapModule itself builds in seconds.
// - swift-nio (NIOCore, NIOPosix, NIOHTTP1): the /metrics and /health endpoint serves every connection at once on one
//   event loop (issue 16: the hand-written server answered one connection at a time, so idle connections delayed
//   /health past a probe's timeout). It reuses swift-atomics and swift-collections, already here.
// - modelcontextprotocol/swift-sdk (MCP): `parley mcp`, the Model Context Protocol server through which LLM hosts join
//   (issue 18). Its MCP module needs swift-system and swift-log, already here; ~20 s on a clean debug build.
// - swiftlang/swift-subprocess: every child process the tests, the benchmark harness and the chaos harness start
//   (ParleyChildProcess), instead of Foundation's Process and two hand-written posix_spawn launchers (issue 16). It
//   needs swift-system, already here; none of the shipped executables links it.
// - swift-service-lifecycle: SIGTERM/SIGINT → graceful shutdown of each process's services (the reactor, the
//   metrics server, the gateway's policy reloads). It brings swift-async-algorithms and two modules of
//   swift-collections: ~21 s more on a clean debug build (measured the same way).
/// Every package the build resolves, at the version the tests run with. Everyone (the tests, agents depending on the
/// Parley library) gets semantic-version ranges from these; with PARLEY_PINNED_DEPENDENCIES=1 (deploy/Dockerfile) the
/// build takes exactly these versions, the transitive ones included, so that an image built later holds the same
/// code (Package.resolved is not committed: its commit ids would be this machine's mirrors', not GitHub's).
let versions: [(url: String, version: Version, direct: Bool)] = [
    ("https://github.com/apple/swift-argument-parser", "1.8.2", true),
    ("https://github.com/apple/swift-log", "1.16.2", true),
    ("https://github.com/jpsim/Yams", "6.2.2", true),
    ("https://github.com/apple/swift-metrics", "2.13.0", true),
    ("https://github.com/swift-server/swift-prometheus", "2.4.1", true),
    ("https://github.com/swift-server/swift-service-lifecycle", "2.13.0", true),
    ("https://github.com/apple/swift-nio", "2.101.3", true),
    ("https://github.com/apple/swift-collections", "1.6.0", true),
    ("https://github.com/modelcontextprotocol/swift-sdk", "0.12.1", true),
    ("https://github.com/apple/swift-atomics", "1.3.0", false),
    ("https://github.com/apple/swift-async-algorithms", "1.1.4", false),
    ("https://github.com/apple/swift-system", "1.8.1", true),
    ("https://github.com/mattt/eventsource", "1.1.1", false),
    ("https://github.com/swiftlang/swift-subprocess", "1.0.2", true),
]
let pinned = Context.environment["PARLEY_PINNED_DEPENDENCIES"] == "1"
let dependencies: [Package.Dependency] = versions.compactMap { entry in
    if pinned { return .package(url: entry.url, exact: entry.version) }
    return entry.direct ? .package(url: entry.url, from: entry.version) : nil
}

let package = Package(
    name: "Parley",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "parley-broker", targets: ["parley-broker"]),
        .executable(name: "parley-gateway", targets: ["parley-gateway"]),
        .executable(name: "parley", targets: ["parley"]),
        .library(name: "Parley", targets: ["Parley"]),
    ],
    dependencies: dependencies,
    targets: [
        .systemLibrary(
            name: "CZeroMQ",
            pkgConfig: "libzmq",
            providers: [.apt(["libzmq3-dev"])]  // `make` links the patched build of deps/libzmq instead
        ),
        .target(name: "ZeroMQ", dependencies: ["CZeroMQ", "ParleyWire", "ParleyStatistics"]),
        // The wire protocol and the values every layer shares (routing ids, the CURVE key ring): no dependencies.
        .target(name: "ParleyWire"),
        // The broker's protocol rules as a sans-I/O state machine: nothing but ParleyWire, the standard library and
        // swift-collections' HeapModule for its timers (no libzmq, no Foundation, no clock, no random source;
        // BrokerCoreImportsTests checks the imports).
        // Cross-module optimisation: the reactor uses the generic `BrokerCore<Message>`, which must be specialised in
        // the broker's module (without it a round trip costs twice the instructions: unspecialised generic code).
        .target(
            name: "ParleyBrokerCore", dependencies: ["ParleyWire", .product(name: "HeapModule", package: "swift-collections")],
            swiftSettings: [.unsafeFlags(["-cross-module-optimization"])]
        ),
        // The broker process's I/O: the reactor around the core, the event journal, the options.
        .target(
            name: "ParleyBroker",
            dependencies: ["ParleyBrokerCore", "ZeroMQ", "ParleyWire", "ParleyPolicy", "ParleyStatistics",
                           .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "ParleyPolicy",
            dependencies: ["ParleyWire", "ZeroMQ", .product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "ParleyGateway",
            dependencies: ["ZeroMQ", "ParleyWire", "ParleyPolicy", "ParleyStatistics", .product(name: "Logging", package: "swift-log")]
        ),
        // Figures a reactor keeps without locks or allocation (the latency histogram), copied out now and then for
        // export. No dependencies, so that the cores can use it.
        .target(name: "ParleyStatistics"),
        // What both processes need to be operated: configuration files with sources, JSON logs, the metrics
        // HTTP endpoint, process statistics, and services for swift-service-lifecycle.
        .target(
            name: "ParleyOperations",
            dependencies: [
                "ParleyPolicy", "ParleyStatistics", "ParleyWire",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        .target(
            name: "Parley",
            dependencies: ["ZeroMQ", "ParleyWire", "ParleyStatistics", .product(name: "Logging", package: "swift-log"),
                           .product(name: "HeapModule", package: "swift-collections")]
        ),
        .executableTarget(
            name: "parley-broker",
            dependencies: [
                "ParleyBroker", "ParleyBrokerCore", "ParleyOperations", "ParleyWire", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "parley-gateway",
            dependencies: [
                "ParleyGateway", "ParleyPolicy", "ParleyOperations", "ParleyStatistics", "ParleyWire", "ZeroMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        // `parley mcp`: Parley's tools for an LLM host over the Model Context Protocol.
        .target(
            name: "ParleyMCP",
            dependencies: ["Parley", .product(name: "MCP", package: "swift-sdk")]
        ),
        .executableTarget(
            name: "parley",
            dependencies: [
                "Parley", "ParleyWire", "ParleyPolicy", "ZeroMQ", "ParleyMCP", .product(name: "MCP", package: "swift-sdk"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .target(name: "ParleyChildProcess", dependencies: [.product(name: "Subprocess", package: "swift-subprocess"),
                                                           .product(name: "SystemPackage", package: "swift-system")]),
        .executableTarget(
            name: "parley-bench",
            dependencies: [
                "ZeroMQ", "CZeroMQ", "ParleyWire", "ParleyStatistics", "Parley", "ParleyChildProcess", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "bench/Sources/parley-bench"
        ),
        .executableTarget(name: "parley-chaos", dependencies: ["Parley", "ParleyWire", "ParleyStatistics", "ParleyChildProcess", "ZeroMQ", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "chaos/Sources/parley-chaos"),
        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "ParleyWire"]),
        .testTarget(name: "ParleyWireTests", dependencies: ["ParleyWire"]),
        .testTarget(name: "ParleyBrokerTests", dependencies: ["ParleyBrokerCore", "ParleyWire"]),
        .testTarget(name: "ParleyPolicyTests", dependencies: ["ParleyPolicy", "ParleyWire"]),
        .testTarget(name: "ParleyGatewayTests", dependencies: ["ParleyGateway", "ParleyPolicy", "ParleyWire"]),
        // swift-system: the MCP tests hand `parley mcp`'s pipes to the MCP client's stdio transport as FileDescriptors.
        .testTarget(name: "ParleyTests", dependencies: ["Parley", "ParleyWire", "ParleyOperations", "ZeroMQ",
                                                        .product(name: "MCP", package: "swift-sdk"),
                                                        "ParleyChildProcess", .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "ParleyOperationsTests", dependencies: ["ParleyOperations", "ParleyStatistics", .product(name: "Logging", package: "swift-log")]),
    ],
    swiftLanguageModes: [.v6]
)
