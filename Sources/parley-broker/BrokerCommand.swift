import ArgumentParser
import Foundation
import Logging
import ParleyBroker
import ParleyOperations
import ParleyPolicy
import ParleyWire
import ZeroMQ
import ServiceLifecycle
import Synchronization
import UnixSignals

/// `parley-broker`: routes help and clarification requests between agents.
@main
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-broker",
        abstract: "Routes help and clarification requests between Parley agents over ZeroMQ.",
        discussion: """
            Agents connect a DEALER socket to --endpoint and speak the protocol in docs/PROTOCOL.md.

            Every option can also be set in a config file (--config, or PARLEY_BROKER_CONFIG; the flag's name without \
            its leading dashes, e.g. `heartbeat-ms: 200`) or in the environment (PARLEY_BROKER_HEARTBEAT_MS=200). Flags win \
            over the environment, which wins over the file, which wins over the defaults; --print-config shows the \
            result and where each value came from. SIGTERM or SIGINT drains and exits 0. deploy/broker.yaml documents \
            every setting; deploy/OPERATIONS.md is the operator's guide.
            """,
        version: ParleyVersion.current
    )

    @Option(help: "A YAML config file (default: $PARLEY_BROKER_CONFIG, else none).")
    var config: String?

    @Flag(help: "Print the effective configuration, with where each value came from, and exit.")
    var printConfig = false

    @Option(name: .customLong("endpoint"), help: .init(BrokerSettings.loader.help("endpoint"))) var endpoint: String?
    @Option(name: .customLong("events-endpoint"), help: .init(BrokerSettings.loader.help("events-endpoint"))) var eventsEndpoint: String?
    @Option(name: .customLong("secret-key"), help: .init(BrokerSettings.loader.help("secret-key"))) var secretKey: String?
    @Option(name: .customLong("keys"), help: .init(BrokerSettings.loader.help("keys"))) var keys: String?
    @Option(name: .customLong("gateway-token"), help: .init(BrokerSettings.loader.help("gateway-token"))) var gatewayToken: String?
    @Option(name: .customLong("gateway-ids"), help: .init(BrokerSettings.loader.help("gateway-ids"))) var gatewayIDs: String?
    @Option(name: .customLong("heartbeat-ms"), help: .init(BrokerSettings.loader.help("heartbeat-ms"))) var heartbeat: String?
    @Option(name: .customLong("liveness"), help: .init(BrokerSettings.loader.help("liveness"))) var liveness: String?
    @Option(name: .customLong("max-away-agents"), help: .init(BrokerSettings.loader.help("max-away-agents"))) var maxAwayAgents: String?
    @Option(name: .customLong("max-deadline-ms"), help: .init(BrokerSettings.loader.help("max-deadline-ms"))) var maxDeadline: String?
    @Option(name: .customLong("dedupe-window-ms"), help: .init(BrokerSettings.loader.help("dedupe-window-ms"))) var dedupeWindow: String?
    @Option(name: .customLong("dedupe-capacity"), help: .init(BrokerSettings.loader.help("dedupe-capacity"))) var dedupeCapacity: String?
    @Option(name: .customLong("dedupe-max-bytes"), help: .init(BrokerSettings.loader.help("dedupe-max-bytes"))) var dedupeMaxBytes: String?
    @Option(name: .customLong("max-deliveries-per-agent"), help: .init(BrokerSettings.loader.help("max-deliveries-per-agent"))) var maxDeliveriesPerAgent: String?
    @Option(name: .customLong("max-delivery-bytes-per-agent"), help: .init(BrokerSettings.loader.help("max-delivery-bytes-per-agent")))
    var maxDeliveryBytesPerAgent: String?
    @Option(name: .customLong("max-pending"), help: .init(BrokerSettings.loader.help("max-pending"))) var maxPending: String?
    @Option(name: .customLong("max-pending-per-agent"), help: .init(BrokerSettings.loader.help("max-pending-per-agent"))) var maxPendingPerAgent: String?
    @Option(name: .customLong("max-pending-bytes"), help: .init(BrokerSettings.loader.help("max-pending-bytes"))) var maxPendingBytes: String?
    @Option(name: .customLong("max-pending-bytes-per-agent"), help: .init(BrokerSettings.loader.help("max-pending-bytes-per-agent"))) var maxPendingBytesPerAgent: String?
    @Option(name: .customLong("max-body"), help: .init(BrokerSettings.loader.help("max-body"))) var maxBody: String?
    @Option(name: .customLong("peer-hwm"), help: .init(BrokerSettings.loader.help("peer-hwm"))) var peerHwm: String?
    @Option(name: .customLong("events-hwm"), help: .init(BrokerSettings.loader.help("events-hwm"))) var eventsHwm: String?
    @Option(name: .customLong("peer-queue-bytes"), help: .init(BrokerSettings.loader.help("peer-queue-bytes"))) var peerQueueBytes: String?
    @Option(name: .customLong("peer-queue-total-bytes"), help: .init(BrokerSettings.loader.help("peer-queue-total-bytes"))) var peerQueueTotalBytes: String?
    @Option(name: .customLong("events-queue-bytes"), help: .init(BrokerSettings.loader.help("events-queue-bytes"))) var eventsQueueBytes: String?
    @Option(name: .customLong("max-subscriptions-per-connection"), help: .init(BrokerSettings.loader.help("max-subscriptions-per-connection")))
    var maxSubscriptionsPerConnection: String?
    @Option(name: .customLong("max-topics-per-agent"), help: .init(BrokerSettings.loader.help("max-topics-per-agent"))) var maxTopicsPerAgent: String?
    @Option(name: .customLong("retention-count"), help: .init(BrokerSettings.loader.help("retention-count"))) var retentionCount: String?
    @Option(name: .customLong("retention-bytes"), help: .init(BrokerSettings.loader.help("retention-bytes"))) var retentionBytes: String?
    @Option(name: .customLong("retention-total-bytes"), help: .init(BrokerSettings.loader.help("retention-total-bytes"))) var retentionTotalBytes: String?
    @Option(name: .customLong("retention-ms"), help: .init(BrokerSettings.loader.help("retention-ms"))) var retention: String?
    @Option(name: .customLong("data-dir"), help: .init(BrokerSettings.loader.help("data-dir"))) var dataDir: String?
    @Flag(name: .customLong("journal-sync"), inversion: .prefixedNo, help: .init(BrokerSettings.loader.help("journal-sync"))) var journalSync: Bool?
    @Option(name: .customLong("journal-slack-bytes"), help: .init(BrokerSettings.loader.help("journal-slack-bytes"))) var journalSlack: String?
    @Option(name: .customLong("shutdown-grace-ms"), help: .init(BrokerSettings.loader.help("shutdown-grace-ms"))) var shutdownGrace: String?
    @Option(name: .customLong("log-level"), help: .init(BrokerSettings.loader.help("log-level"))) var logLevel: String?
    @Option(name: .customLong("log-format"), help: .init(BrokerSettings.loader.help("log-format"))) var logFormat: String?
    @Option(name: .customLong("metrics-port"), help: .init(BrokerSettings.loader.help("metrics-port"))) var metricsPort: String?
    @Option(name: .customLong("metrics-address"), help: .init(BrokerSettings.loader.help("metrics-address"))) var metricsAddress: String?
    @Flag(name: .customLong("metrics-public"), inversion: .prefixedNo, help: .init(BrokerSettings.loader.help("metrics-public"))) var metricsPublic: Bool?
    @Option(name: .customLong("sample-ms"), help: .init(BrokerSettings.loader.help("sample-ms"))) var sample: String?

    /// The values given on the command line, by setting key.
    private var flags: [String: String] {
        let given: [(String, String?)] = [
            ("endpoint", endpoint), ("events-endpoint", eventsEndpoint), ("secret-key", secretKey), ("keys", keys),
            ("gateway-token", gatewayToken), ("gateway-ids", gatewayIDs), ("heartbeat-ms", heartbeat), ("liveness", liveness), ("max-away-agents", maxAwayAgents), ("max-deadline-ms", maxDeadline),
            ("dedupe-window-ms", dedupeWindow), ("dedupe-capacity", dedupeCapacity), ("dedupe-max-bytes", dedupeMaxBytes), ("max-deliveries-per-agent", maxDeliveriesPerAgent),
            ("max-delivery-bytes-per-agent", maxDeliveryBytesPerAgent), ("max-pending", maxPending),
            ("max-pending-per-agent", maxPendingPerAgent), ("max-pending-bytes", maxPendingBytes),
            ("max-pending-bytes-per-agent", maxPendingBytesPerAgent), ("max-body", maxBody), ("peer-hwm", peerHwm), ("events-hwm", eventsHwm),
            ("peer-queue-bytes", peerQueueBytes), ("peer-queue-total-bytes", peerQueueTotalBytes), ("events-queue-bytes", eventsQueueBytes), ("max-subscriptions-per-connection", maxSubscriptionsPerConnection),
            ("max-topics-per-agent", maxTopicsPerAgent), ("retention-count", retentionCount), ("retention-bytes", retentionBytes), ("retention-total-bytes", retentionTotalBytes),
            ("retention-ms", retention),
            ("data-dir", dataDir), ("journal-sync", journalSync.map { $0 ? "true" : "false" }), ("journal-slack-bytes", journalSlack), ("shutdown-grace-ms", shutdownGrace),
            ("log-level", logLevel), ("log-format", logFormat), ("metrics-port", metricsPort),
            ("metrics-address", metricsAddress), ("metrics-public", metricsPublic.map { $0 ? "true" : "false" }), ("sample-ms", sample),
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
        let program = "parley-broker"
        let configuration: EffectiveConfiguration
        let logger: Logger
        switch ProcessStartup.begin(program: program, loader: BrokerSettings.loader, configFile: config, flags: flags,
                                    printConfig: printConfig, check: BrokerSettings.check) {
        case .run(let effective, let startLogger): (configuration, logger) = (effective, startLogger)
        case .exit: return
        case .refused: throw ExitCode(StartupReport.configurationExitStatus)
        }

        if let warning = ZeroMQ.unguardedWarning { logger.warning("\(warning)") }
        var options = BrokerSettings.options(configuration)
        var generatedToken: String?
        if let secretKey = configuration.text("secret-key"), let keys = configuration.text("keys") {
            do {
                options.security = try CurveServerSecurity.load(secretKeyFile: secretKey, keysFile: keys)
            } catch {
                StartupReport.refuse(program, "\(configuration.locating(error))")
                throw ExitCode(StartupReport.configurationExitStatus)
            }
            logger.notice("CURVE enabled", metadata: ["keys": "\(keys)", "known keys": .stringConvertible(options.security!.keyRing.entries.count)])
        } else {
            // Unset: a random token per start, handed to a gateway started beside the broker through a private file.
            if let token = configuration.text("gateway-token") {
                options.core.gatewayToken = token
            } else {
                let token = GatewayTokenFile.randomToken()
                options.core.gatewayToken = token
                generatedToken = token
            }
            let endpoint = options.endpoint
            if !endpoint.hasPrefix("tcp://127.") && !endpoint.hasPrefix("ipc://") && !endpoint.hasPrefix("inproc://") {
                logger.warning("DEVELOPMENT MODE on a non-loopback endpoint: no CURVE keys are configured, traffic is unauthenticated and unencrypted")
            } else {
                logger.warning("DEVELOPMENT MODE: no CURVE keys configured; listening on loopback only; gateways authenticate with a token")
            }
            logger.warning("DEVELOPMENT MODE: agents' ids, layers and capabilities are not verified, and anyone who can connect may read every event and STATUS")
        }

        let broker = try Broker(options: options, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        var metrics: BrokerMetrics?
        var console: BrokerConsole?
        let metricsPort: UInt16 = configuration.integer("metrics-port")
        if metricsPort > 0 {
            let exporter = BrokerMetrics(sampleIntervalMilliseconds: options.sampleIntervalMilliseconds)
            // With CURVE the broker has no client key of its own for its events socket.
            let pages = BrokerConsole(latest: exporter.latest, sampleIntervalMilliseconds: options.sampleIntervalMilliseconds,
                                      eventTailProblem: options.security == nil ? nil
                                          : "the console's event tail is not available with CURVE keys: use `parley tail` with an observer's keys")
            let server: MetricsHTTPServer
            do {
                server = try MetricsHTTPServer(address: configuration.string("metrics-address"), port: metricsPort,
                                               route: { method, target in exporter.route(method, target.path) ?? pages.route(target) },
                                               onTick: { exporter.refresh(); pages.refresh() })
            } catch {
                StartupReport.refuse(program, "\(error)")
                throw ExitCode.failure
            }
            logger.info("metrics listening", metadata: ["event": "bind", "metrics": "http://\(server.boundAddress)/metrics",
                                                        "console": "http://\(server.boundAddress)/"])
            print("parley-broker metrics on http://\(server.boundAddress)/metrics")
            print("parley-broker console on http://\(server.boundAddress)/")
            metrics = exporter
            console = pages
            // Listed first: the group shuts services down in reverse order, so /metrics outlives the drain.
            services.append(.init(service: ThreadService(name: "parley-metrics", work: server.run, stop: server.stop),
                                  successTerminationBehavior: .gracefullyShutdownGroup))
        }
        services.append(.init(service: SignalNotices(logger: logger), successTerminationBehavior: .ignore))
        let tokenFile = Mutex<GatewayTokenFile?>(nil)
        let tailConsole = options.security == nil ? console : nil
        let reactor = ThreadService(name: "parley-broker-reactor", work: { [metrics, generatedToken] in
            try broker.run(onReady: { endpoint, eventsEndpoint in
                if let generatedToken {
                    let file = GatewayTokenFile(brokerEndpoint: endpoint)
                    do {
                        try file.write(generatedToken)
                        tokenFile.withLock { $0 = file }
                        logger.notice("development gateway token written", metadata: ["event": "gateway_token", "file": "\(file.path)"])
                    } catch {
                        logger.error("no gateway can register: \(error); give gateway-token to the broker and the gateway",
                                     metadata: ["event": "gateway_token"])
                    }
                }
                if let tailConsole { ConsoleEventFeed.start(endpoint: eventsEndpoint, hub: tailConsole.events, logger: logger) }
                // Supervisors and tests wait for this line before connecting.
                print("parley-broker ready on \(endpoint) events \(eventsEndpoint)")
                fflush(nil)
            }, onSample: { sample in metrics?.store(sample) })
        }, stop: broker.stop)
        services.append(.init(service: reactor, successTerminationBehavior: .gracefullyShutdownGroup))
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        defer { if let generatedToken { tokenFile.withLock { $0?.remove(ifHolding: generatedToken) } } }
        do {
            try await group.run()
        } catch {
            logger.critical("broker failed", metadata: ["event": "failed", "error": "\(error)", "endpoint": "\(options.endpoint)",
                                                        "events": "\(options.eventsEndpoint)"])
            throw ExitCode.failure
        }
    }
}

/// Logs SIGHUP instead of dying of it: the broker has nothing to reload.
private struct SignalNotices: Service {
    let logger: Logger

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            logger.notice("SIGHUP ignored: the broker has nothing to reload (restart it to change options)")
        }
    }
}
