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
    /// Pending requests one requester may have before further ones get OVERLOADED.
    public var maxPendingPerRequester: Int = 10_000
    /// Pending requests in the whole broker before further ones get OVERLOADED.
    public var maxPending: Int = 200_000
    /// The largest body frame accepted (also enforced by ZMQ_MAXMSGSIZE, which disconnects the sender).
    public var maxBodyBytes: Int = 1 << 20
    /// How long an agent that stopped heartbeating is remembered, so requests addressed to it wait for it.
    public var awayRetentionMilliseconds: UInt64 = 600_000

    /// The defaults documented in docs/PROTOCOL.md.
    public init() {}
}
