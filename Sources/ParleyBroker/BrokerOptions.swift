import ParleyBrokerCore
import ParleyPolicy

/// Where and how a broker process serves.
public struct BrokerOptions: Sendable {
    /// The ROUTER endpoint agents connect to.
    public var endpoint: String = "tcp://127.0.0.1:7410"
    /// The XPUB endpoint subscribers connect to for live events.
    public var eventsEndpoint: String = "tcp://127.0.0.1:7411"
    /// Events queued per subscriber before the broker drops that subscriber's copies (it then catches
    /// up by REPLAY); one slow subscriber never stalls the others.
    public var eventsHighWaterMark: Int32 = 100_000
    /// Bytes queued per subscriber (each part's size plus 64), besides the event count: over it the subscriber's
    /// copies are dropped like at the high-water mark.
    public var eventsQueueBytes: Int64 = 16 << 20
    /// Subscriptions one events connection may hold; one more closes the connection.
    public var maxSubscriptionsPerConnection: Int32 = 10_000
    /// Where the event journal lives (events and sequences survive restarts); nil keeps events in memory only.
    public var dataDirectory: String?
    /// Whether each group of journal writes is synced to disk before its events are confirmed (survives a
    /// power cut, not only a crash); off, a confirmed event survives a killed broker but not a lost machine.
    public var syncJournal = true
    /// How far the journal may grow past twice what the retained events cost (payload + 256 bytes each) before it
    /// is compacted while running.
    public var journalSlackBytes = 64 << 20
    /// CURVE on both endpoints (only keys in the ring may connect); nil in development mode.
    public var security: CurveServerSecurity?
    /// On SIGTERM/SIGINT: how long pending requests may still finish before the rest end with UNAVAILABLE.
    public var shutdownGraceMilliseconds: UInt64 = 5_000
    /// How often the reactor hands a ``BrokerSample`` to `run`'s `onSample` (metrics, health, agent join/leave
    /// logs), in milliseconds. A snapshot costs O(agents + pending requests); once a second is nothing next to traffic.
    public var sampleIntervalMilliseconds: UInt64 = 1_000
    /// The core's tunables.
    public var core = BrokerConfiguration()
    /// Outgoing queue per peer before messages to it are dropped (ZMQ_SNDHWM), and the incoming one.
    public var highWaterMark: Int32 = 100_000
    /// Bytes queued per agent or gateway connection, each way (each part's size plus 64), besides the message count.
    /// A peer whose queue is full when the broker sends to it counts as gone: it is marked away, as if silent.
    public var queueBytes: Int64 = 16 << 20
    /// Bytes queued out over all agent and gateway connections together: over it, a peer holding more than a
    /// sixteenth of `queueBytes` counts as full (and is marked away), so peers that do not read cannot add up.
    public var totalQueueBytes: Int64 = 256 << 20

    /// The defaults documented in docs/PROTOCOL.md.
    public init() {}

    /// A frame larger than this makes libzmq drop the connection (ZMQ_MAXMSGSIZE); bodies between
    /// `core.maxBodyBytes` and this get BAD_REQUEST instead.
    public var transportFrameLimit: Int64 { Int64(core.maxBodyBytes) * 2 + 65_536 }
}
