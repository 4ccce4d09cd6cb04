import ArgumentParser
import Dispatch
import Logging
import ParleyBroker

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

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard (10...3_600_000).contains(heartbeatMilliseconds) else { throw ValidationError("--heartbeat-ms must be 10 to 3600000") }
        guard (1...255).contains(liveness) else { throw ValidationError("--liveness must be 1 to 255") }
        guard maxBody >= 1_024 else { throw ValidationError("--max-body must be at least 1024 bytes") }
        guard maxPending >= 1, maxPendingPerAgent >= 1 else { throw ValidationError("pending limits must be at least 1") }
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
        options.core.heartbeatMilliseconds = heartbeatMilliseconds
        options.core.liveness = liveness
        options.core.maxDeadlineMilliseconds = maxDeadlineMilliseconds
        options.core.dedupeWindowMilliseconds = dedupeWindowMilliseconds
        options.core.dedupeCapacity = dedupeCapacity
        options.core.maxPending = maxPending
        options.core.maxPendingPerRequester = maxPendingPerAgent
        options.core.maxBodyBytes = maxBody
        if !endpoint.hasPrefix("tcp://127.") && !endpoint.hasPrefix("ipc://") && !endpoint.hasPrefix("inproc://") {
            logger.warning("DEVELOPMENT MODE on a non-loopback endpoint: no CURVE keys are configured, traffic is unauthenticated and unencrypted")
        } else {
            logger.notice("development mode: no CURVE keys configured; listening on loopback only")
        }
        let broker = try Broker(options: options, logger: logger)
        let signals = [SIGTERM, SIGINT].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { broker.stop() }
            source.resume()
            return source
        }
        do {
            try broker.run { endpoint in
                // Supervisors and tests wait for this line before connecting.
                print("parley-broker ready on \(endpoint)")
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
