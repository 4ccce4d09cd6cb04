import ParleyGateway
import ParleyOperations

/// Every setting of `parley-gateway`: the same key in the config file, as a flag (`--key`) and in the
/// environment (`PARLEY_GATEWAY_KEY`). deploy/gateway.yaml documents each one.
enum GatewaySettings {
    static let all: [Setting] = [
        Setting("endpoint", .endpoint, default: "tcp://127.0.0.1:7420", help: "ROUTER endpoint callers connect to."),
        Setting("broker", .endpoint, default: "tcp://127.0.0.1:7410", help: "The broker's agent endpoint."),
        Setting("policy", .path, default: "deploy/policy.yaml", help: "The policy file (YAML); SIGHUP reloads it."),
        Setting("audit-log", .path, default: "-", help: "Where the audit trail (JSON lines) is appended; - for standard output."),
        Setting("gateway-id", .text, default: "gateway", help: "The gateway's id towards the broker (its id in the broker's keys file with CURVE)."),
        Setting("gateway-token", .secret, default: nil,
                help: "Development mode only (no keys): the token the broker expects from gateways. Unset: the one a broker "
                    + "started beside the gateway, as the same user, wrote for its endpoint (read at each registration)."),
        Setting("secret-key", .path, default: nil,
                help: "CURVE: the gateway's secret key file (from `parley keygen --out`). Needs keys and broker-key."),
        Setting("keys", .path, default: nil, help: "CURVE: the keys file naming which agents may call, with their layers."),
        Setting("broker-key", .keyOrPath, default: nil, help: "CURVE: the broker's public key (40 Z85 characters) or a file holding it."),
        Setting("heartbeat-ms", .integer(10...3_600_000), default: "1000", help: "Heartbeat interval towards callers, in milliseconds."),
        Setting("shutdown-grace-ms", .integer(0...3_600_000), default: "5000",
                help: "On SIGTERM/SIGINT, how long forwarded calls may still get their outcome (new ones get UNAVAILABLE); the rest then end UNAVAILABLE."),
        Setting("log-level", .choice(LogSetup.levelNames), default: "info", help: "Log level."),
        Setting("log-format", .choice(LogFormat.allCases.map(\.rawValue)), default: "text",
                help: "text for people, json for one JSON object per line (log pipelines)."),
        Setting("metrics-port", .integer(0...65_535), default: "0", help: "Port of the HTTP endpoint serving /metrics, /health and the console (/ and /api/); 0 turns it off."),
        Setting("metrics-address", .address, default: "127.0.0.1", help: "Address the metrics endpoint (and its console) listens on; loopback unless metrics-public."),
        MetricsExposure.setting,
        Setting("sample-ms", .integer(100...60_000), default: "1000", help: "How often the reactor reports to the metrics and /health."),
        Setting("caller-queue-bytes", .bytes((64 << 10)...(1 << 40)), default: "16MiB",
                help: "Bytes queued per caller connection, each way (each frame's size plus 64); a caller whose queue is full is "
                    + "forgotten (it registers again and retries)."),
        Setting("caller-queue-total-bytes", .bytes((1 << 20)...(1 << 40)), default: "256MiB",
                help: "Bytes queued for all callers together; over it, a caller holding more than a sixteenth of caller-queue-bytes "
                    + "counts as full (so callers that never read cannot add up)."),
        Setting("broker-queue-bytes", .bytes((1 << 20)...(1 << 40)), default: "64MiB",
                help: "Bytes of forwarded calls queued towards the broker; a call that finds the queue full ends OVERLOADED."),
    ]

    static let loader = ConfigurationLoader(program: "parley-gateway", environmentPrefix: "PARLEY_GATEWAY_", settings: all)

    /// Checks that span settings, naming where the offending value came from.
    static func check(_ configuration: EffectiveConfiguration) throws(ConfigurationProblem) {
        try MetricsExposure.check(configuration)
        let curve = ["secret-key", "keys", "broker-key"]
        let given = curve.filter { configuration.text($0) != nil }
        if !given.isEmpty, given.count < curve.count {
            throw configuration.problem(given[0], "secret-key, keys and broker-key go together (CURVE needs all three); "
                + "\(given.joined(separator: " and ")) set, \(curve.filter { !given.contains($0) }.joined(separator: " and ")) not")
        }
    }

    /// The gateway's options from a checked configuration (without the CURVE security, which loads files).
    static func options(_ configuration: EffectiveConfiguration) -> GatewayOptions {
        var options = GatewayOptions()
        options.endpoint = configuration.string("endpoint")
        options.brokerEndpoint = configuration.string("broker")
        options.core.gatewayID = configuration.string("gateway-id")
        options.core.heartbeatMilliseconds = configuration.integer("heartbeat-ms")
        options.shutdownGraceMilliseconds = configuration.integer("shutdown-grace-ms")
        options.sampleIntervalMilliseconds = configuration.integer("sample-ms")
        options.callerQueueBytes = configuration.integer("caller-queue-bytes")
        options.callerQueueTotalBytes = configuration.integer("caller-queue-total-bytes")
        options.brokerQueueBytes = configuration.integer("broker-queue-bytes")
        return options
    }
}
