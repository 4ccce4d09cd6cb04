import ArgumentParser
import Foundation
import Parley
import ParleyPolicy
import ParleyWire
import ZeroMQ

/// `parley`: poke at a running Parley system.
@main
struct ParleyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley",
        abstract: "Send requests, run a demo agent, publish and tail events, and inspect a Parley broker.",
        version: ParleyVersion.current,
        subcommands: [RequestCommand.self, ServeCommand.self, StatusCommand.self, PublishCommand.self, TailCommand.self,
                      PolicyCommand.self, KeygenCommand.self, HealthCommand.self, AdministerCommand.self, MCPCommand.self]
    )
}

/// Options every subcommand that talks to the broker shares; their defaults come from `PARLEY_BROKER`,
/// `PARLEY_EVENTS`, `PARLEY_GATEWAY`, `PARLEY_SECRET_KEY`, `PARLEY_BROKER_KEY` and `PARLEY_GATEWAY_KEY` when set.
struct BrokerOptions: ParsableArguments {
    @Option(help: "The broker's ROUTER endpoint (environment: PARLEY_BROKER).")
    var broker = ProcessInfo.processInfo.environment["PARLEY_BROKER"] ?? "tcp://127.0.0.1:7410"

    @Option(help: "The broker's events (XPUB) endpoint (environment: PARLEY_EVENTS).")
    var events = ProcessInfo.processInfo.environment["PARLEY_EVENTS"] ?? "tcp://127.0.0.1:7411"

    @Option(name: .customLong("gateway"),
            help: ArgumentHelp("The gateway's frontend endpoint, for layer: targets (environment: PARLEY_GATEWAY; default tcp://127.0.0.1:7420); `health` checks the gateway when it is given here.",
                               valueName: "endpoint"))
    var gatewayOption: String?

    @Option(name: .customLong("secret-key"),
            help: ArgumentHelp("CURVE: this client's secret key file (PREFIX.key from `parley keygen --out PREFIX`; environment: PARLEY_SECRET_KEY).",
                               valueName: "file"))
    var secretKeyOption: String?

    @Option(name: .customLong("broker-key"),
            help: ArgumentHelp("CURVE: the broker's public key file (environment: PARLEY_BROKER_KEY).", valueName: "file"))
    var brokerKeyOption: String?

    @Option(name: .customLong("gateway-key"),
            help: ArgumentHelp("CURVE: the gateway's public key file, for a gateway's health (environment: PARLEY_GATEWAY_KEY).",
                               valueName: "file"))
    var gatewayKeyOption: String?

    /// The gateway's frontend: `--gateway`, else `PARLEY_GATEWAY`, else the default port on loopback.
    var gateway: String { gatewayOption ?? ProcessInfo.processInfo.environment["PARLEY_GATEWAY"] ?? "tcp://127.0.0.1:7420" }

    private var secretKeyFile: String? { secretKeyOption ?? ProcessInfo.processInfo.environment["PARLEY_SECRET_KEY"] }
    private var brokerKeyFile: String? { brokerKeyOption ?? ProcessInfo.processInfo.environment["PARLEY_BROKER_KEY"] }
    private var gatewayKeyFile: String? { gatewayKeyOption ?? ProcessInfo.processInfo.environment["PARLEY_GATEWAY_KEY"] }

    /// The agent's CURVE keys, or nil in development mode (no --secret-key).
    func curveKeys() throws -> CurveKeys? {
        guard let secretKeyFile else {
            guard brokerKeyFile == nil else { throw ValidationError("--broker-key needs --secret-key (this client's own key)") }
            return nil
        }
        guard let brokerKeyFile else { throw ValidationError("--secret-key needs --broker-key (the broker's public key)") }
        let secretKey = try readKey(secretKeyFile)
        return CurveKeys(publicKey: try Curve.publicKey(fromSecret: secretKey), secretKey: secretKey,
                         brokerKey: try readKey(brokerKeyFile), gatewayKey: try gatewayKeyFile.map(readKey))
    }

    /// The keys for a connection to the broker, or nil in development mode.
    func brokerCurve() throws -> CurveClientKeys? {
        try curveKeys().map { CurveClientKeys(publicKey: $0.publicKey, secretKey: $0.secretKey, serverKey: $0.brokerKey) }
    }

    /// An agent configuration for this broker, with the CURVE keys when given.
    func agentConfiguration(id: String, layer: String, capabilities: [String] = []) throws -> AgentConfiguration {
        var configuration = AgentConfiguration(id: id, layer: layer, capabilities: capabilities, brokerEndpoint: broker,
                                               eventsEndpoint: events)
        configuration.gatewayEndpoint = gateway
        configuration.curve = try curveKeys()
        return configuration
    }

    /// Before waiting for the broker: says at once when nothing listens, or why the broker would not accept this
    /// client (CURVE required or not used, its key refused, a wrong --broker-key), which would otherwise look like
    /// a broker that never answers.
    func requireBroker() async throws {
        try EndpointProbe.requireListener(at: broker, what: "broker")
        try await requireHandshake(endpoint: broker, curve: brokerCurve())
    }

    /// The keys for a connection to the gateway, or nil in development mode.
    func gatewayCurve() throws -> CurveClientKeys? {
        guard let keys = try curveKeys() else { return nil }
        guard let gatewayKey = keys.gatewayKey else { throw ValidationError("--secret-key with a gateway needs --gateway-key") }
        return CurveClientKeys(publicKey: keys.publicKey, secretKey: keys.secretKey, serverKey: gatewayKey)
    }
}

/// Checks the security handshake with the server at `endpoint`; a failure ends the command with the reason and
/// the options that set the keys.
func requireHandshake(endpoint: String, curve: CurveClientKeys?) async throws {
    do {
        try await ServerHandshake.check(endpoint: endpoint, curve: curve)
    } catch let error as ParleyError {
        printError("\(error) (CURVE keys: --secret-key, --broker-key, --gateway-key)")
        throw ExitCode.failure
    }
}

/// How a subcommand prints its result: for people, or as one JSON object for scripts.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text
    case json
}

/// Refuses a payload that is not JSON, naming the option.
func validatedJSON(_ text: String, option: String) throws -> [UInt8] {
    let bytes = Array(text.utf8)
    guard (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil else {
        throw ValidationError("\(option) is not valid JSON: \(text)")
    }
    return bytes
}

/// Prints `value` as one line of JSON with sorted keys.
func printJSON<Value: Encodable>(_ value: Value) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Writes one line to standard error.
func printError(_ message: String) {
    var line = Array((message + "\n").utf8)
    _ = line.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}
