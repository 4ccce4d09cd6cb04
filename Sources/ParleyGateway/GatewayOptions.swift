import ParleyPolicy

/// Where and how a gateway process serves.
public struct GatewayOptions: Sendable {
    /// The ROUTER endpoint callers connect to.
    public var endpoint = "tcp://127.0.0.1:7420"
    /// The broker's ROUTER endpoint.
    public var brokerEndpoint = "tcp://127.0.0.1:7410"
    /// The core's tunables.
    public var core = GatewayConfiguration()
    /// On stop: how long calls already forwarded may still get their outcome (new calls get UNAVAILABLE);
    /// the rest then end with UNAVAILABLE.
    public var shutdownGraceMilliseconds: UInt64 = 5_000
    /// How often the reactor hands a ``GatewaySample`` to `run`'s `onSample` (metrics, health), in milliseconds.
    public var sampleIntervalMilliseconds: UInt64 = 1_000
    /// Bytes queued per caller connection, each way (each frame's size plus 64), besides 100,000 messages; a caller
    /// whose queue is full when the gateway sends to it is forgotten (it registers again and retries).
    public var callerQueueBytes: Int64 = 16 << 20
    /// Bytes queued for all callers together: over it, a caller holding more than a sixteenth of `callerQueueBytes`
    /// counts as full, so callers that never read cannot add up.
    public var callerQueueTotalBytes: Int64 = 256 << 20
    /// Bytes queued towards the broker, each way: the copies of forwarded payloads the gateway holds while the broker
    /// does not keep up. A call that finds it full ends OVERLOADED.
    public var brokerQueueBytes: Int64 = 64 << 20
    /// CURVE on the frontend (callers must hold a key in the ring); nil in development mode.
    public var frontendSecurity: CurveServerSecurity?
    /// CURVE towards the broker; nil in development mode.
    public var backendSecurity: CurveClientSecurity?

    /// The defaults documented in docs/PROTOCOL.md.
    public init() {}

    /// A frame larger than this makes libzmq drop the caller's connection.
    public var transportFrameLimit: Int64 { Int64(core.maxBodyBytes) * 2 + 65_536 }
}
