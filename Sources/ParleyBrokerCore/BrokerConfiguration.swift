/// The broker core's tunables. Times are in milliseconds.
public struct BrokerConfiguration: Sendable {
    /// How often the broker sends HEARTBEAT, and expects one.
    public var heartbeatMilliseconds: UInt64 = 1_000
    /// Heartbeat intervals of silence after which an agent counts as gone.
    public var liveness: UInt64 = 3
    /// The hard maximum of a request's lifetime, PROGRESS extensions included.
    public var maxDeadlineMilliseconds: UInt64 = 600_000
    /// How long a finished request's outcome is kept to answer retries.
    public var dedupeWindowMilliseconds: UInt64 = 300_000
    /// How many finished outcomes are kept at most (the oldest go first).
    public var dedupeCapacity: Int = 100_000
    /// How many bytes of answers the outcome cache holds at most, roughly (the oldest go first).
    public var dedupeMaxBytes: Int = 64 << 20
    /// Pending requests one requester may have before further ones get OVERLOADED.
    public var maxPendingPerRequester: Int = 10_000
    /// Requests delivered to one agent and not answered yet, at most; further ones wait in the broker, where the
    /// requesters take turns (so one requester's backlog does not queue ahead of everyone else's in the agent).
    public var maxDeliveriesPerAgent: Int = 256
    /// Payload bytes delivered to one agent and not answered yet: an agent under it takes one more request (so it
    /// holds at most this plus one body). Keeps what the broker queues for a reading agent below its queue budget.
    public var maxDeliveryBytesPerAgent: Int = 4 << 20
    /// Pending requests in the whole broker before further ones get OVERLOADED.
    public var maxPending: Int = 200_000
    /// Payload bytes of one requester's pending requests before further ones get OVERLOADED.
    public var maxPendingBytesPerRequester: Int = 64 << 20
    /// Payload bytes of all pending requests before further ones get OVERLOADED.
    public var maxPendingBytes: Int = 256 << 20
    /// The largest body frame accepted (also enforced by ZMQ_MAXMSGSIZE, which disconnects the sender).
    public var maxBodyBytes: Int = 1 << 20
    /// How long an agent that stopped heartbeating is remembered, so requests addressed to it wait for it.
    public var awayRetentionMilliseconds: UInt64 = 600_000
    /// Agents remembered as away at most; over it the one away longest is forgotten (as after the retention).
    public var maxAwayAgents: Int = 10_000

    /// Events retained per topic for replay, at most.
    public var retentionCount: Int = 10_000
    /// Payload bytes retained per topic, at most.
    public var retentionBytes: Int = 16 << 20
    /// How long an event is retained.
    public var retentionMilliseconds: UInt64 = 600_000
    /// What all topics together retain at most: payload bytes plus 256 bytes per event. Over it, the oldest
    /// events across all topics leave retention first.
    public var retentionTotalBytes: Int = 256 << 20
    /// After start-up, how long requests for targets nobody offers yet wait (agents re-register after a
    /// broker restart) before ending NO_ROUTE; nil means heartbeat × liveness, 0 answers NO_ROUTE at once.
    public var startupRouteGraceMilliseconds: UInt64?
    /// Whether published events are also handed to the reactor's journal (`journal`), to survive restarts.
    public var journaling = false
    /// Topics the broker keeps at most; a PUBLISH opening one more gets OVERLOADED.
    public var maxTopics: Int = 100_000
    /// Topics one agent may open; a PUBLISH opening one more of its own gets OVERLOADED, so that one agent cannot
    /// use up `maxTopics` for the others.
    public var maxTopicsPerAgent: Int = 1_000
    /// How many confirmed event ids are remembered to de-duplicate resends.
    public var eventDedupeCapacity: Int = 100_000
    /// Most EVENTs sent in answer to one REPLAY (REPLAY_END then says `truncated`).
    public var maxReplayBatch: Int = 10_000
    /// What one REPLAY answer may carry in bytes (payload plus 256 per event, the retention measure); the event that
    /// crosses it is the last one sent (so a batch always has one). Keeps an answer within the asker's queue budget:
    /// the broker sets it to half of `peer-queue-bytes`.
    public var maxReplayBatchBytes: Int = 8 << 20
    /// BEACONs sent per topic after its latest event (one per heartbeat interval).
    public var beaconRounds: Int = 3

    /// Development mode: the token a gateway presents in GATEWAY_HELLO when no CURVE keys are configured.
    /// Nil refuses every gateway that CURVE does not authenticate.
    public var gatewayToken: String?
    /// Development mode: the only ids a gateway may register with, which no agent may take. Nil: any id.
    public var gatewayIDs: Set<String>? = ["gateway"]

    /// The defaults documented in docs/PROTOCOL.md.
    public init() {}
}
