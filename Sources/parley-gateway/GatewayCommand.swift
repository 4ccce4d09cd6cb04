import ArgumentParser
import Dispatch
import Logging
import ParleyGateway
import ParleyPolicy

#if canImport(Glibc)
import Glibc
#endif

/// `parley-gateway`: enforces which layers may call which, audits every decision, forwards what is allowed.
@main
struct GatewayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-gateway",
        abstract: "Authenticates callers, checks cross-layer calls against a policy, audits, and forwards them to the broker.",
        discussion: "SIGHUP reloads the policy file; an invalid file is rejected and the old policy stays in force."
    )

    @Option(help: "ROUTER endpoint callers connect to.")
    var endpoint = "tcp://127.0.0.1:7420"

    @Option(help: "The broker's agent endpoint.")
    var broker = "tcp://127.0.0.1:7410"

    @Option(help: "The policy file (YAML).")
    var policy = "deploy/policy.yaml"

    @Option(help: "Where the audit trail (JSON lines) goes; - for standard output.")
    var auditLog = "-"

    @Option(help: "The gateway's id towards the broker.")
    var gatewayID = "gateway"

    @Option(help: "Development mode only (no keys): the token the broker expects from gateways.")
    var gatewayToken = "parley-dev-gateway"

    @Option(help: "CURVE: the gateway's secret key file (from `parley keygen --out`). Needs --keys and --broker-key.")
    var secretKey: String?

    @Option(help: "CURVE: the keys file naming which agents may call, with their layers.")
    var keys: String?

    @Option(help: "CURVE: the broker's public key (Z85) or a file holding it.")
    var brokerKey: String?

    @Option(name: .customLong("heartbeat-ms"), help: "Heartbeat interval towards callers, in milliseconds.")
    var heartbeatMilliseconds: UInt64 = 1_000

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        let curve = [secretKey, keys, brokerKey].filter { $0 != nil }.count
        guard curve == 0 || curve == 3 else { throw ValidationError("--secret-key, --keys and --broker-key go together") }
        guard (10...3_600_000).contains(heartbeatMilliseconds) else { throw ValidationError("--heartbeat-ms must be 10 to 3600000") }
    }

    func run() throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "parley-gateway")
        var options = GatewayOptions()
        options.endpoint = endpoint
        options.brokerEndpoint = broker
        options.core.gatewayID = gatewayID
        options.core.heartbeatMilliseconds = heartbeatMilliseconds
        let loadedPolicy: Policy
        do {
            loadedPolicy = try Policy.load(path: policy)
            if let secretKey, let keys, let brokerKey {
                let key = brokerKey.count == 40 ? brokerKey : try readKey(brokerKey)
                options.frontendSecurity = try CurveServerSecurity.load(secretKeyFile: secretKey, keysFile: keys)
                try options.frontendSecurity!.keyRing.check(against: loadedPolicy)
                options.backendSecurity = try CurveClientSecurity(secretKey: try readKey(secretKey), serverKey: key)
                logger.notice("CURVE enabled: callers' layers come from their keys", metadata: ["keys": "\(keys)"])
            } else {
                options.core.gatewayToken = gatewayToken
                logger.warning("DEVELOPMENT MODE: no CURVE keys; callers' declared layers are TRUSTED; use only on loopback")
            }
        } catch {
            print("parley-gateway: \(error)")
            throw ExitCode.failure
        }
        let gateway = try Gateway(options: options, policy: loadedPolicy, auditLog: auditLog, logger: logger)
        let sources = installSignalHandlers(gateway, logger: logger)
        do {
            try gateway.run { endpoint in
                print("parley-gateway ready on \(endpoint)")
                fflush(nil)
            }
        } catch {
            logger.critical("gateway failed", metadata: ["error": "\(error)"])
            throw ExitCode.failure
        }
        sources.forEach { $0.cancel() }
    }

    /// SIGTERM/SIGINT stop the gateway; SIGHUP reloads the policy, keeping the old one when the new file is bad.
    private func installSignalHandlers(_ gateway: Gateway, logger: Logger) -> [DispatchSourceSignal] {
        let path = policy
        let actions: [(Int32, @Sendable () -> Void)] = [
            (SIGTERM, { gateway.stop() }),
            (SIGINT, { gateway.stop() }),
            (SIGHUP, {
                do {
                    gateway.reload(try Policy.load(path: path))
                } catch {
                    logger.error("policy reload rejected; the previous policy stays in force", metadata: ["error": "\(error)"])
                }
            }),
        ]
        return actions.map { number, action in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            return source
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
