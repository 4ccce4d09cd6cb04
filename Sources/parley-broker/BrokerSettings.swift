import Foundation
import Logging
import ParleyBroker
import ParleyOperations
import ParleyWire

/// Every setting of `parley-broker`: the same key in the config file, as a flag (`--key`) and in the
/// environment (`PARLEY_BROKER_KEY`). deploy/broker.yaml documents each one.
enum BrokerSettings {
    static let all: [Setting] = [
        Setting("endpoint", .endpoint, default: "tcp://127.0.0.1:7410", help: "ROUTER endpoint agents and gateways connect to."),
        Setting("events-endpoint", .endpoint, default: "tcp://127.0.0.1:7411", help: "XPUB endpoint subscribers connect to for live events."),
        Setting("secret-key", .path, default: nil, help: "CURVE: the broker's secret key file (from `parley keygen --out`). Needs keys."),
        Setting("keys", .path, default: nil, help: "CURVE: the keys file naming who may connect (agents with their layers, gateways)."),
        Setting("gateway-token", .secret, default: nil,
                help: "Development mode only (no keys): the token a gateway must present. Unset: a random one per start, "
                    + "written to a file only this user can read, where a gateway started beside the broker finds it."),
        Setting("gateway-ids", .text, default: "gateway",
                help: "Development mode only: the ids gateways may register with (comma-separated); no agent may take them."),
        Setting("heartbeat-ms", .integer(10...3_600_000), default: "1000", help: "Heartbeat interval in milliseconds, both ways."),
        Setting("liveness", .integer(1...255), default: "3",
                help: "Silent heartbeat intervals after which an agent counts as gone and its work is redelivered."),
        Setting("max-away-agents", .integer(1...10_000_000), default: "10000",
                help: "Agents remembered as away (gone silent, may come back) at most; over it the one away longest is forgotten."),
        Setting("max-deadline-ms", .integer(1...86_400_000), default: "600000",
                help: "Hard maximum lifetime of a request, progress extensions included."),
        Setting("dedupe-window-ms", .integer(0...86_400_000), default: "300000", help: "How long a finished outcome is kept to answer retries."),
        Setting("dedupe-capacity", .integer(0...100_000_000), default: "100000",
                help: "How many finished outcomes are kept at most for retries (0 turns de-duplication of finished requests off)."),
        Setting("dedupe-max-bytes", .bytes(0...(1 << 40)), default: "64MiB",
                help: "Bytes of answers the outcome cache keeps at most, roughly (the oldest go first)."),
        Setting("max-deliveries-per-agent", .integer(1...1_000_000), default: "256",
                help: "Requests delivered to one agent and not answered, at most; further ones wait in the broker, requesters taking turns."),
        Setting("max-delivery-bytes-per-agent", .bytes(1...(1 << 40)), default: "4MiB",
                help: "Body bytes delivered to one agent and not answered; an agent under it takes one more request, further ones wait in the broker. At most half of peer-queue-bytes."),
        Setting("max-pending", .integer(1...100_000_000), default: "200000", help: "Pending requests in the whole broker before new ones get OVERLOADED."),
        Setting("max-pending-per-agent", .integer(1...100_000_000), default: "10000",
                help: "Pending requests per requesting agent (a forwarded call's: its caller's) before new ones get OVERLOADED."),
        Setting("max-pending-bytes", .bytes(1_024...(1 << 40)), default: "256MiB",
                help: "Payload bytes of all pending requests before new ones get OVERLOADED."),
        Setting("max-pending-bytes-per-agent", .bytes(1_024...(1 << 40)), default: "64MiB",
                help: "Payload bytes of one requester's pending requests (a forwarded call's: its caller's) before new ones get OVERLOADED."),
        Setting("max-body", .bytes(1_024...(256 << 20)), default: "1MiB",
                help: "Largest body frame; larger ones get BAD_REQUEST, and frames over twice this drop the connection."),
        Setting("peer-hwm", .integer(1...Int64(Int32.max)), default: "100000",
                help: "Messages queued per agent or gateway connection, each way, before messages to it are dropped (it recovers by retrying)."),
        Setting("peer-queue-bytes", .bytes((64 << 10)...(1 << 40)), default: "16MiB",
                help: "Bytes queued per agent or gateway connection, each way (each frame's size plus 64), besides peer-hwm; "
                    + "a peer whose queue is full when the broker sends to it is marked away (it re-registers and retries). "
                    + "A REPLAY answer carries at most half of it."),
        Setting("peer-queue-total-bytes", .bytes((1 << 20)...(1 << 40)), default: "256MiB",
                help: "Bytes queued for all agent and gateway connections together; over it, a peer holding more than a "
                    + "sixteenth of peer-queue-bytes counts as full (so peers that never read cannot add up)."),
        Setting("events-hwm", .integer(0...Int64(Int32.max)), default: "100000",
                help: "Events queued per subscriber before its copies are dropped (it catches up by replay)."),
        Setting("events-queue-bytes", .bytes((64 << 10)...(1 << 40)), default: "16MiB",
                help: "Bytes queued per subscriber (each frame's size plus 64), besides events-hwm; over it its copies are dropped."),
        Setting("max-subscriptions-per-connection", .integer(1...Int64(Int32.max)), default: "10000",
                help: "Subscriptions one events connection may hold; one more closes that connection."),
        Setting("max-topics-per-agent", .integer(1...100_000), default: "1000",
                help: "Topics one agent may open (the broker holds 100000 in all); a PUBLISH opening one more gets OVERLOADED. "
                    + "At it, its topics with nothing retained are forgotten at the next heartbeat."),
        Setting("retention-count", .integer(1...100_000_000), default: "10000", help: "Events retained per topic for replay."),
        Setting("retention-bytes", .bytes(1...(64 << 30)), default: "16MiB", help: "Payload bytes retained per topic for replay."),
        Setting("retention-total-bytes", .bytes(1...(1 << 40)), default: "256MiB",
                help: "What all topics together retain at most (payload bytes plus 256 per event); over it the oldest events across topics go first."),
        Setting("retention-ms", .integer(1...(365 * 86_400_000)), default: "600000", help: "How long events are retained for replay."),
        Setting("data-dir", .path, default: nil,
                help: "Directory for the event journal: confirmed events and topic sequences survive restarts. Unset: events in memory only."),
        Setting("journal-sync", .boolean, default: "true",
                help: "Sync each group of journal writes to disk before confirming its events (survives power loss, costs latency)."),
        Setting("journal-slack-bytes", .bytes((64 << 10)...(1 << 40)), default: "64MiB",
                help: "How far the journal may grow past twice what the retained events cost (payload + 256 bytes each) before it is compacted while running."),
        Setting("shutdown-grace-ms", .integer(0...3_600_000), default: "5000",
                help: "On SIGTERM/SIGINT, how long pending requests may still finish (new ones get UNAVAILABLE); the rest then end UNAVAILABLE."),
        Setting("log-level", .choice(LogSetup.levelNames), default: "info", help: "Log level."),
        Setting("log-format", .choice(LogFormat.allCases.map(\.rawValue)), default: "text",
                help: "text for people, json for one JSON object per line (log pipelines)."),
        Setting("metrics-port", .integer(0...65_535), default: "0", help: "Port of the HTTP endpoint serving /metrics, /health and the console (/ and /api/); 0 turns it off."),
        Setting("metrics-address", .address, default: "127.0.0.1", help: "Address the metrics endpoint (and its console) listens on; loopback unless metrics-public."),
        MetricsExposure.setting,
        Setting("sample-ms", .integer(100...60_000), default: "1000",
                help: "How often the reactor reports to the metrics, /health, the console and the agent joined/left logs."),
    ]

    static let loader = ConfigurationLoader(program: "parley-broker", environmentPrefix: "PARLEY_BROKER_", settings: all)

    /// Checks that span settings, naming where the offending value came from.
    static func check(_ configuration: EffectiveConfiguration) throws(ConfigurationProblem) {
        try MetricsExposure.check(configuration)
        let secretKey = configuration.text("secret-key"), keys = configuration.text("keys")
        if (secretKey == nil) != (keys == nil) {
            let given = secretKey == nil ? "keys" : "secret-key"
            throw configuration.problem(given, "secret-key and keys go together (CURVE needs both); \(given) is set, the other is not")
        }
        for id in gatewayIDs(configuration) {
            if let problem = Names.agentProblem(id) { throw configuration.problem("gateway-ids", problem) }
        }
        // What the broker sends a reading agent at once must fit its queue with room to spare.
        let queue: Int = configuration.integer("peer-queue-bytes"), deliveries: Int = configuration.integer("max-delivery-bytes-per-agent")
        if deliveries > queue / 2 {
            // Blame the one that was set (a lowered peer-queue-bytes next to the default deliveries, usually).
            let key = configuration["max-delivery-bytes-per-agent"].source == .builtIn ? "peer-queue-bytes" : "max-delivery-bytes-per-agent"
            throw configuration.problem(key, "max-delivery-bytes-per-agent (\(deliveries)) is more than half of peer-queue-bytes (\(queue)): "
                                        + "an agent's deliveries would fill its queue; lower max-delivery-bytes-per-agent too")
        }
    }

    /// The `gateway-ids` setting's ids.
    private static func gatewayIDs(_ configuration: EffectiveConfiguration) -> [String] {
        configuration.string("gateway-ids").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The broker's options from a checked configuration (without the CURVE security, which loads files).
    static func options(_ configuration: EffectiveConfiguration) -> BrokerOptions {
        var options = BrokerOptions()
        options.endpoint = configuration.string("endpoint")
        options.eventsEndpoint = configuration.string("events-endpoint")
        options.highWaterMark = configuration.integer("peer-hwm")
        options.eventsHighWaterMark = configuration.integer("events-hwm")
        options.queueBytes = configuration.integer("peer-queue-bytes")
        options.totalQueueBytes = configuration.integer("peer-queue-total-bytes")
        options.core.maxReplayBatchBytes = Int(options.queueBytes / 2)  // a REPLAY answer fits the asker's queue
        options.eventsQueueBytes = configuration.integer("events-queue-bytes")
        options.maxSubscriptionsPerConnection = configuration.integer("max-subscriptions-per-connection")
        options.shutdownGraceMilliseconds = configuration.integer("shutdown-grace-ms")
        options.sampleIntervalMilliseconds = configuration.integer("sample-ms")
        options.dataDirectory = configuration.text("data-dir")
        options.syncJournal = configuration.boolean("journal-sync")
        options.journalSlackBytes = configuration.integer("journal-slack-bytes")
        options.core.maxTopicsPerAgent = configuration.integer("max-topics-per-agent")
        options.core.retentionCount = configuration.integer("retention-count")
        options.core.retentionBytes = configuration.integer("retention-bytes")
        options.core.retentionMilliseconds = configuration.integer("retention-ms")
        options.core.retentionTotalBytes = configuration.integer("retention-total-bytes")
        options.core.heartbeatMilliseconds = configuration.integer("heartbeat-ms")
        options.core.liveness = configuration.integer("liveness")
        options.core.maxAwayAgents = configuration.integer("max-away-agents")
        options.core.maxDeadlineMilliseconds = configuration.integer("max-deadline-ms")
        options.core.dedupeWindowMilliseconds = configuration.integer("dedupe-window-ms")
        options.core.dedupeCapacity = configuration.integer("dedupe-capacity")
        options.core.dedupeMaxBytes = configuration.integer("dedupe-max-bytes")
        options.core.maxPending = configuration.integer("max-pending")
        options.core.maxDeliveriesPerAgent = configuration.integer("max-deliveries-per-agent")
        options.core.maxDeliveryBytesPerAgent = configuration.integer("max-delivery-bytes-per-agent")
        options.core.maxPendingPerRequester = configuration.integer("max-pending-per-agent")
        options.core.maxPendingBytes = configuration.integer("max-pending-bytes")
        options.core.maxPendingBytesPerRequester = configuration.integer("max-pending-bytes-per-agent")
        options.core.maxBodyBytes = configuration.integer("max-body")
        options.core.gatewayIDs = Set(gatewayIDs(configuration))
        return options
    }
}
