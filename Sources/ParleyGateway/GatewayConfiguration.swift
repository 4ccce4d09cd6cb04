/// The gateway core's tunables. Times are in milliseconds.
public struct GatewayConfiguration: Sendable {
    /// The gateway's id towards the broker.
    public var gatewayID = "gateway"
    /// Development mode: the token presented to the broker in GATEWAY_HELLO (empty with CURVE keys), asked for at
    /// each registration so that it can follow a broker that restarted with a new one.
    public var gatewayToken: @Sendable () -> String = { "" }
    /// How often the gateway sends HEARTBEAT to callers, and expects one.
    public var heartbeatMilliseconds: UInt64 = 1_000
    /// Heartbeat intervals of silence after which a caller counts as gone.
    public var liveness: UInt64 = 3
    /// How long past a call's deadline the gateway waits for the broker's outcome before answering TIMEOUT.
    public var graceMilliseconds: UInt64 = 2_000
    /// The largest body frame accepted from callers.
    public var maxBodyBytes: Int = 1 << 20

    /// The defaults documented in docs/PROTOCOL.md.
    public init() {}
}
