import ArgumentParser
import Foundation
import Logging
import ParleyGateway
import ParleyOperations
import ParleyPolicy
import ParleyWire
import ZeroMQ
import ServiceLifecycle
import UnixSignals

/// `parley-gateway`: enforces which layers may call which, audits every decision, forwards what is allowed.
@main
struct GatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-gateway",
        abstract: "Authenticates callers, checks cross-layer calls against a policy, audits, and forwards them to the broker.",
        discussion: """
            SIGHUP reloads the policy file; an invalid file is rejected and the old policy stays in force. SIGTERM or \
            SIGINT stops accepting calls, lets forwarded ones finish (--shutdown-grace-ms) and exits 0.

            Every option can also be set in a config file (--config, or PARLEY_GATEWAY_CONFIG; the flag's name without \
            its leading dashes, e.g. `broker: tcp://broker:7410`) or in the environment (PARLEY_GATEWAY_BROKER=…). Flags win \
            over the environment, which wins over the file, which wins over the defaults; --print-config shows the \
            result and where each value came from. deploy/gateway.yaml documents every setting.
            """,
        version: ParleyVersion.current
    )

    @Option(help: "A YAML config file (default: $PARLEY_GATEWAY_CONFIG, else none).")
    var config: String?

    @Flag(help: "Print the effective configuration, with where each value came from, and exit.")
    var printConfig = false

    @Option(name: .customLong("endpoint"), help: .init(GatewaySettings.loader.help("endpoint"))) var endpoint: String?
    @Option(name: .customLong("broker"), help: .init(GatewaySettings.loader.help("broker"))) var broker: String?
    @Option(name: .customLong("policy"), help: .init(GatewaySettings.loader.help("policy"))) var policy: String?
    @Option(name: .customLong("audit-log"), help: .init(GatewaySettings.loader.help("audit-log"))) var auditLog: String?
    @Option(name: .customLong("gateway-id"), help: .init(GatewaySettings.loader.help("gateway-id"))) var gatewayID: String?
    @Option(name: .customLong("gateway-token"), help: .init(GatewaySettings.loader.help("gateway-token"))) var gatewayToken: String?
    @Option(name: .customLong("secret-key"), help: .init(GatewaySettings.loader.help("secret-key"))) var secretKey: String?
    @Option(name: .customLong("keys"), help: .init(GatewaySettings.loader.help("keys"))) var keys: String?
    // A Z85 key may start with "-": take the next word whatever it looks like.
    @Option(name: .customLong("broker-key"), parsing: .unconditional, help: .init(GatewaySettings.loader.help("broker-key"))) var brokerKey: String?
    @Option(name: .customLong("heartbeat-ms"), help: .init(GatewaySettings.loader.help("heartbeat-ms"))) var heartbeat: String?
    @Option(name: .customLong("shutdown-grace-ms"), help: .init(GatewaySettings.loader.help("shutdown-grace-ms"))) var shutdownGrace: String?
    @Option(name: .customLong("log-level"), help: .init(GatewaySettings.loader.help("log-level"))) var logLevel: String?
    @Option(name: .customLong("log-format"), help: .init(GatewaySettings.loader.help("log-format"))) var logFormat: String?
    @Option(name: .customLong("metrics-port"), help: .init(GatewaySettings.loader.help("metrics-port"))) var metricsPort: String?
    @Option(name: .customLong("metrics-address"), help: .init(GatewaySettings.loader.help("metrics-address"))) var metricsAddress: String?
    @Flag(name: .customLong("metrics-public"), inversion: .prefixedNo, help: .init(GatewaySettings.loader.help("metrics-public"))) var metricsPublic: Bool?
    @Option(name: .customLong("sample-ms"), help: .init(GatewaySettings.loader.help("sample-ms"))) var sample: String?
    @Option(name: .customLong("caller-queue-bytes"), help: .init(GatewaySettings.loader.help("caller-queue-bytes"))) var callerQueueBytes: String?
    @Option(name: .customLong("caller-queue-total-bytes"), help: .init(GatewaySettings.loader.help("caller-queue-total-bytes")))
    var callerQueueTotalBytes: String?
    @Option(name: .customLong("broker-queue-bytes"), help: .init(GatewaySettings.loader.help("broker-queue-bytes"))) var brokerQueueBytes: String?

    /// The values given on the command line, by setting key.
    private var flags: [String: String] {
        let given: [(String, String?)] = [
            ("endpoint", endpoint), ("broker", broker), ("policy", policy), ("audit-log", auditLog), ("gateway-id", gatewayID),
            ("gateway-token", gatewayToken), ("secret-key", secretKey), ("keys", keys), ("broker-key", brokerKey),
            ("heartbeat-ms", heartbeat), ("shutdown-grace-ms", shutdownGrace), ("log-level", logLevel), ("log-format", logFormat),
            ("metrics-port", metricsPort), ("metrics-address", metricsAddress),
            ("metrics-public", metricsPublic.map { $0 ? "true" : "false" }), ("sample-ms", sample),
            ("caller-queue-bytes", callerQueueBytes), ("caller-queue-total-bytes", callerQueueTotalBytes), ("broker-queue-bytes", brokerQueueBytes),
        ]
        return given.reduce(into: [:]) { flags, pair in if let value = pair.1 { flags[pair.0] = value } }
    }

    /// The entry point: signal dispositions first (a SIGHUP or SIGPIPE right after exec must not end the process),
    /// then ArgumentParser's parsing and `run()`.
    static func main() async {
        ProcessStartup.installSignalDispositions()
        await main(nil)
    }

    func run() async throws {
        let program = "parley-gateway"
        let configuration: EffectiveConfiguration
        let logger: Logger
        switch ProcessStartup.begin(program: program, loader: GatewaySettings.loader, configFile: config, flags: flags,
                                    printConfig: printConfig, check: GatewaySettings.check) {
        case .run(let effective, let startLogger): (configuration, logger) = (effective, startLogger)
        case .exit: return
        case .refused: throw ExitCode(StartupReport.configurationExitStatus)
        }

        if let warning = ZeroMQ.unguardedWarning { logger.warning("\(warning)") }
        var options = GatewaySettings.options(configuration)
        let policyPath = configuration.string("policy")
        let loadedPolicy: Policy
        do {
            loadedPolicy = try Policy.load(path: policyPath)
            if let secretKey = configuration.text("secret-key"), let keys = configuration.text("keys"),
               let brokerKey = configuration.text("broker-key") {
                let key = brokerKey.count == 40 ? brokerKey : try readKey(brokerKey)
                options.frontendSecurity = try CurveServerSecurity.load(secretKeyFile: secretKey, keysFile: keys)
                try options.frontendSecurity!.keyRing.check(against: loadedPolicy)
                options.backendSecurity = try CurveClientSecurity(secretKey: try readKey(secretKey), serverKey: key)
                logger.notice("CURVE enabled: callers' layers come from their keys", metadata: ["keys": "\(keys)"])
            } else {
                if let token = configuration.text("gateway-token") {
                    options.core.gatewayToken = { token }
                } else {
                    let file = GatewayTokenFile(brokerEndpoint: options.brokerEndpoint)
                    if file.read() == nil {
                        logger.warning("no development gateway token yet: none configured and no broker wrote it; the broker refuses this gateway until one does (or give gateway-token to both)",
                                       metadata: ["file": "\(file.path)"])
                    }
                    options.core.gatewayToken = { file.read() ?? "" }
                }
                logger.warning("DEVELOPMENT MODE: no CURVE keys; callers' declared layers are TRUSTED; use only on loopback")
            }
        } catch {
            StartupReport.refuse(program, "\(configuration.locating(error))")
            throw ExitCode(StartupReport.configurationExitStatus)
        }
        logger.info("policy loaded", metadata: ["event": "policy_loaded", "policy": "\(policyPath)", "rules": .stringConvertible(loadedPolicy.rules.count)])

        let gateway: Gateway
        do {
            gateway = try Gateway(options: options, policy: loadedPolicy, auditLog: configuration.string("audit-log"), logger: logger)
        } catch let error as AuditLogError {
            StartupReport.refuse(program, "\(error)")
            throw ExitCode(StartupReport.configurationExitStatus)
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var metrics: GatewayMetrics?
        let metricsPort: UInt16 = configuration.integer("metrics-port")
        if metricsPort > 0 {
            let exporter = GatewayMetrics(sampleIntervalMilliseconds: options.sampleIntervalMilliseconds)
            let console = GatewayConsole(latest: exporter.latest)
            let server: MetricsHTTPServer
            do {
                server = try MetricsHTTPServer(address: configuration.string("metrics-address"), port: metricsPort,
                                               route: { method, target in exporter.route(method, target.path) ?? console.route(target) },
                                               onTick: exporter.refresh)
            } catch {
                StartupReport.refuse(program, "\(error)")
                throw ExitCode.failure
            }
            logger.info("metrics listening", metadata: ["event": "bind", "metrics": "http://\(server.boundAddress)/metrics",
                                                        "console": "http://\(server.boundAddress)/"])
            print("parley-gateway metrics on http://\(server.boundAddress)/metrics")
            print("parley-gateway console on http://\(server.boundAddress)/")
            metrics = exporter
            // Listed first: the group shuts services down in reverse order, so /metrics outlives the drain.
            services.append(.init(service: ThreadService(name: "parley-metrics", work: server.run, stop: server.stop),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        services.append(.init(service: PolicyReloads(gateway: gateway, path: policyPath, metrics: metrics, logger: logger),
                              successTerminationBehavior: .ignore))
        let reactor = ThreadService(name: "parley-gateway-reactor", work: { [metrics] in
            try gateway.run(onReady: { endpoint in
                // Supervisors and tests wait for this line before connecting.
                print("parley-gateway ready on \(endpoint)")
                fflush(nil)
            }, onSample: { sample in metrics?.store(sample) })
        }, stop: gateway.stop)
        services.append(.init(service: reactor, successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.critical("gateway failed", metadata: ["event": "failed", "error": "\(error)", "endpoint": "\(options.endpoint)",
                                                         "broker": "\(options.brokerEndpoint)"])
            throw ExitCode.failure
        }
    }
}

/// SIGHUP re-reads the policy file: a good one goes to the reactor, a bad one is logged and the old policy stays.
private struct PolicyReloads: Service {
    let gateway: Gateway
    let path: String
    let metrics: GatewayMetrics?
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            do {
                gateway.reload(try Policy.load(path: path))
            } catch {
                metrics?.reloadRejected()
                logger.error("policy reload rejected; the previous policy stays in force",
                             metadata: ["event": "policy_reload_rejected", "error": "\(error)"])
            }
        }
    }
}
