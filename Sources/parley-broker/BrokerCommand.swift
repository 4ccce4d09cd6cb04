import ArgumentParser
import Dispatch
import Logging
import ParleyBroker
import ParleyPolicy

#if canImport(Glibc)
import Glibc
#endif

/// `parley-broker`: routes help and clarification requests between agents.
@main
struct BrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-broker",
        abstract: "Routes help and clarification requests between Parley agents over ZeroMQ.",
        discussion: "Agents connect a DEALER socket to --endpoint and speak the protocol in docs/PROTOCOL.md."
    )

    @Option(help: "ROUTER endpoint agents connect to.")
    var endpoint = "tcp://127.0.0.1:7410"

    @Option(help: "XPUB endpoint subscribers connect to for live events.")
    var eventsEndpoint = "tcp://127.0.0.1:7411"

    @Option(help: "Events queued per subscriber before its copies are dropped (it catches up by replay).")
    var eventsHwm: Int32 = 100_000

    @Option(help: "Events retained per topic for replay.")
    var retentionCount = 10_000

    @Option(help: "Payload bytes retained per topic for replay.")
    var retentionBytes = 16 << 20

    @Option(name: .customLong("retention-ms"), help: "How long events are retained for replay.")
    var retentionMilliseconds: UInt64 = 600_000

    @Option(name: .customLong("heartbeat-ms"), help: "Heartbeat interval in milliseconds, both ways.")
    var heartbeatMilliseconds: UInt64 = 1_000

    @Option(help: "Silent heartbeat intervals after which an agent counts as gone and its work is redelivered.")
    var liveness: UInt64 = 3

    @Option(name: .customLong("max-deadline-ms"), help: "Hard maximum lifetime of a request, progress extensions included.")
    var maxDeadlineMilliseconds: UInt64 = 600_000

    @Option(name: .customLong("dedupe-window-ms"), help: "How long a finished outcome is kept to answer retries.")
    var dedupeWindowMilliseconds: UInt64 = 300_000

    @Option(help: "How many finished outcomes are kept at most for retries (0 turns de-duplication of finished requests off).")
    var dedupeCapacity = 100_000

    @Option(help: "Pending requests in the whole broker before new ones get OVERLOADED.")
    var maxPending = 200_000

    @Option(help: "Pending requests per requesting agent before new ones get OVERLOADED.")
    var maxPendingPerAgent = 10_000

    @Option(help: "Largest body frame in bytes; larger ones get BAD_REQUEST, and frames over twice this drop the connection.")
    var maxBody = 1 << 20

    @Option(help: "CURVE: the broker's secret key file (from `parley keygen --out`). Needs --keys.")
    var secretKey: String?

    @Option(help: "CURVE: the keys file naming who may connect (agents with their layers, gateways).")
    var keys: String?

    @Option(help: "Development mode only (no keys): the token a gateway must present.")
    var gatewayToken = "parley-dev-gateway"

    @Option(help: "Directory for the event journal: confirmed events and topic sequences survive restarts. Without it, events are kept in memory only.")
    var dataDir: String?

    @Flag(inversion: .prefixedNo, help: "Sync each group of journal writes to disk before confirming its events (survives power loss, costs latency).")
    var journalSync = true

    @Option(name: .customLong("shutdown-grace-ms"), help: "On SIGTERM/SIGINT, how long pending requests may still finish (new ones get UNAVAILABLE); the rest then end with UNAVAILABLE.")
    var shutdownGraceMilliseconds: UInt64 = 5_000

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (10...3_600_000).contains(heartbeatMilliseconds) else { throw ValidationError("--heartbeat-ms must be 10 to 3600000") }
        guard (1...255).contains(liveness) else { throw ValidationError("--liveness must be 1 to 255") }
        guard maxBody >= 1_024 else { throw ValidationError("--max-body must be at least 1024 bytes") }
        guard maxPending >= 1, maxPendingPerAgent >= 1 else { throw ValidationError("pending limits must be at least 1") }
        guard retentionCount >= 1, retentionBytes >= 1, eventsHwm >= 0 else {
            throw ValidationError("--retention-count and --retention-bytes must be at least 1, --events-hwm not negative")
        }
        guard (secretKey == nil) == (keys == nil) else { throw ValidationError("--secret-key and --keys go together") }
        guard dedupeCapacity >= 0 else { throw ValidationError("--dedupe-capacity cannot be negative") }
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "parley-broker")
        var options = BrokerOptions()
        options.endpoint = endpoint
        options.shutdownGraceMilliseconds = shutdownGraceMilliseconds
        options.dataDirectory = dataDir
        options.syncJournal = journalSync
        options.eventsEndpoint = eventsEndpoint
        options.eventsHighWaterMark = eventsHwm
        options.core.retentionCount = retentionCount
        options.core.retentionBytes = retentionBytes
        options.core.retentionMilliseconds = retentionMilliseconds
        options.core.heartbeatMilliseconds = heartbeatMilliseconds
        options.core.liveness = liveness
        options.core.maxDeadlineMilliseconds = maxDeadlineMilliseconds
        options.core.dedupeWindowMilliseconds = dedupeWindowMilliseconds
        options.core.dedupeCapacity = dedupeCapacity
        options.core.maxPending = maxPending
        options.core.maxPendingPerRequester = maxPendingPerAgent
        options.core.maxBodyBytes = maxBody
        if let secretKey, let keys {
            do {
                options.security = try CurveServerSecurity.load(secretKeyFile: secretKey, keysFile: keys)
            } catch {
                logger.critical("\(error)")
                throw ExitCode.failure
            }
            logger.notice("CURVE enabled", metadata: ["keys": "\(keys)", "known keys": "\(options.security!.keyRing.entries.count)"])
        } else {
            options.core.gatewayToken = gatewayToken
            if !endpoint.hasPrefix("tcp://127.") && !endpoint.hasPrefix("ipc://") && !endpoint.hasPrefix("inproc://") {
                logger.warning("DEVELOPMENT MODE on a non-loopback endpoint: no CURVE keys are configured, traffic is unauthenticated and unencrypted")
            } else {
                logger.warning("DEVELOPMENT MODE: no CURVE keys configured; listening on loopback only; gateways authenticate with a token")
            }
        }
        let broker = try Broker(options: options, logger: logger)
        let signals = [SIGTERM, SIGINT, SIGHUP].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if number == SIGHUP {
                    logger.notice("SIGHUP ignored: the broker has nothing to reload (restart it to change options)")
                } else {
                    broker.stop()
                }
            }
            source.resume()
            return source
        }
        do {
            try broker.run { endpoint, eventsEndpoint in
                // Supervisors and tests wait for this line before connecting.
                print("parley-broker ready on \(endpoint) events \(eventsEndpoint)")
                fflush(nil)
            }
        } catch {
            logger.critical("broker failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        signals.forEach { $0.cancel() }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
