import CZeroMQ

/// Socket options (`zmq_setsockopt` / `zmq_getsockopt`).
///
/// Like every ``Socket`` member, these are not thread-safe: call them from the thread using the socket.
/// Most options only affect subsequent `bind`/`connect` calls, so set them first.
extension Socket {
    // MARK: Raw access

    /// Sets an `int` option (raw escape hatch), e.g. `setOption(ZMQ_SNDHWM, 1000)`.
    public func setOption(_ option: Int32, _ value: Int32) throws {
        let handle = try openHandle()
        var value = value
        if zmq_setsockopt(handle, option, &value, MemoryLayout<Int32>.size) != 0 { throw ZMQError.last }
    }

    /// Sets an `int64_t` option (raw escape hatch), e.g. `ZMQ_MAXMSGSIZE`.
    public func setOption(_ option: Int32, int64 value: Int64) throws {
        let handle = try openHandle()
        var value = value
        if zmq_setsockopt(handle, option, &value, MemoryLayout<Int64>.size) != 0 { throw ZMQError.last }
    }

    /// Sets a binary/string option from raw bytes (raw escape hatch), e.g. `ZMQ_SUBSCRIBE`.
    public func setOption(_ option: Int32, bytes: [UInt8]) throws {
        let handle = try openHandle()
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(handle, option, $0.baseAddress, $0.count) }
        if rc != 0 { throw ZMQError.last }
    }

    /// Sets a string option from its UTF-8 bytes, without a terminating NUL.
    public func setOption(_ option: Int32, string: String) throws {
        try setOption(option, bytes: Array(string.utf8))
    }

    /// Reads an `int` option (raw escape hatch), e.g. `intOption(ZMQ_SNDHWM)`.
    public func intOption(_ option: Int32) throws -> Int32 {
        let handle = try openHandle()
        var value: Int32 = 0
        var size = MemoryLayout<Int32>.size
        if zmq_getsockopt(handle, option, &value, &size) != 0 { throw ZMQError.last }
        return value
    }

    /// Reads an `int64_t` option, e.g. `ZMQ_MAXMSGSIZE`.
    public func int64Option(_ option: Int32) throws -> Int64 {
        let handle = try openHandle()
        var value: Int64 = 0
        var size = MemoryLayout<Int64>.size
        if zmq_getsockopt(handle, option, &value, &size) != 0 { throw ZMQError.last }
        return value
    }

    /// Reads a binary option (e.g. `ZMQ_ROUTING_ID`) of at most `capacity` bytes.
    /// String options are returned with their terminating NUL.
    public func bytesOption(_ option: Int32, capacity: Int = 256) throws -> [UInt8] {
        let handle = try openHandle()
        var size = capacity
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: capacity) { buffer, initialized in
            if zmq_getsockopt(handle, option, buffer.baseAddress, &size) != 0 {
                failed = true
                initialized = 0
            } else {
                initialized = min(size, capacity)
            }
        }
        if failed { throw ZMQError.last }
        return bytes
    }

    // MARK: Queues and limits

    /// Maximum number of outgoing messages queued per peer (`ZMQ_SNDHWM`; 0 = unlimited).
    public func setSendHighWaterMark(_ n: Int32) throws {
        try setOption(ZMQ_SNDHWM, n)
    }

    /// Maximum number of incoming messages queued per peer (`ZMQ_RCVHWM`; 0 = unlimited).
    public func setReceiveHighWaterMark(_ n: Int32) throws {
        try setOption(ZMQ_RCVHWM, n)
    }

    /// Bytes each connection's queue may hold, each way, besides the message count of the high-water marks
    /// (0 = no byte limit). A part weighs its size plus the 64-byte slot it takes; at the budget the queue is full,
    /// as at the high-water mark. Set it before bind or connect.
    ///
    /// - Throws: ``ZMQError/invalidArgument`` when the linked libzmq lacks Parley's queue-budgets patch (deps/libzmq).
    public func setQueueByteBudget(_ bytes: Int64) throws {
        try setOption(Self.parleyQueueBytes, int64: bytes)
    }

    /// Subscriptions an XPUB accepts from one connection; one more closes that connection, and its subscriptions
    /// go with it (0 = no limit). Unsubscribing gives room back.
    ///
    /// - Throws: ``ZMQError/invalidArgument`` when the linked libzmq lacks Parley's queue-budgets patch (deps/libzmq).
    public func setMaxSubscriptionsPerConnection(_ n: Int32) throws {
        try setOption(Self.parleyMaxSubscriptions, n)
    }

    /// Bytes queued out over all of this socket's connections (0 = no limit; needs ``setQueueByteBudget(_:)``).
    /// While the total is at it or over, a connection holding more than a sixteenth of its own budget counts as full,
    /// so peers that do not read cannot together hold more than this plus a sixteenth each. Set it before bind.
    ///
    /// - Throws: ``ZMQError/invalidArgument`` when the linked libzmq lacks Parley's queue-budgets patch (deps/libzmq).
    public func setSocketQueueByteBudget(_ bytes: Int64) throws {
        try setOption(Self.parleySocketQueueBytes, int64: bytes)
    }

    /// The option numbers deps/libzmq/queue-budgets.patch adds (not in zmq.h).
    private static let parleyQueueBytes: Int32 = 20_641
    private static let parleyMaxSubscriptions: Int32 = 20_642
    private static let parleySocketQueueBytes: Int32 = 20_643

    /// How long pending outgoing messages are kept after ``close()`` (`ZMQ_LINGER`; -1 = forever, 0 = drop at once).
    public func setLinger(milliseconds: Int32) throws {
        try setOption(ZMQ_LINGER, milliseconds)
    }

    /// Largest inbound message accepted (`ZMQ_MAXMSGSIZE`; -1 = unlimited). A peer sending a bigger
    /// message is disconnected and the message is dropped.
    public func setMaxMessageSize(_ bytes: Int64) throws {
        try setOption(ZMQ_MAXMSGSIZE, int64: bytes)
    }

    /// Timeout for blocking sends (`ZMQ_SNDTIMEO`; -1 = forever). On expiry send returns `false`.
    public func setSendTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_SNDTIMEO, milliseconds)
    }

    /// Timeout for blocking receives (`ZMQ_RCVTIMEO`; -1 = forever). On expiry receive returns `false`/`nil`.
    public func setReceiveTimeout(milliseconds: Int32) throws {
        try setOption(ZMQ_RCVTIMEO, milliseconds)
    }

    // MARK: Connections

    /// Makes the socket queue messages only to completed connections (`ZMQ_IMMEDIATE`).
    public func setImmediate(_ on: Bool) throws {
        try setOption(ZMQ_IMMEDIATE, on ? 1 : 0)
    }

    /// Initial and maximum reconnection intervals (`ZMQ_RECONNECT_IVL`, `ZMQ_RECONNECT_IVL_MAX`),
    /// in milliseconds. A `max` of 0 disables exponential back-off.
    public func setReconnectInterval(milliseconds: Int32, max: Int32) throws {
        try setOption(ZMQ_RECONNECT_IVL, milliseconds)
        try setOption(ZMQ_RECONNECT_IVL_MAX, max)
    }

    /// ZMTP heartbeats (`ZMQ_HEARTBEAT_IVL`, `ZMQ_HEARTBEAT_TIMEOUT`): libzmq sends a PING every
    /// `intervalMilliseconds` and drops the connection when nothing arrives for `timeoutMilliseconds`. With a stock
    /// libzmq 4.3.4, a peer's PINGs arriving while the connection's input is stopped by a full queue abort the
    /// process when that peer resets the connection; the libzmq Parley builds (deps/libzmq) does not.
    public func setHeartbeat(intervalMilliseconds: Int32, timeoutMilliseconds: Int32) throws {
        try setOption(ZMQ_HEARTBEAT_IVL, intervalMilliseconds)
        try setOption(ZMQ_HEARTBEAT_TIMEOUT, timeoutMilliseconds)
    }

    /// TCP keepalive on every connection of this socket (`ZMQ_TCP_KEEPALIVE` and its `_IDLE`, `_INTVL`, `_CNT`):
    /// after `idleSeconds` without traffic the kernel probes the peer every `intervalSeconds`, and after
    /// `probes` unanswered probes the connection fails and libzmq drops the peer and what was queued for it
    /// (by default a peer that vanished without closing is dropped about a minute after it went silent).
    /// The kernel does this, so it costs the process no timer per connection.
    public func setTCPKeepalive(idleSeconds: Int32 = 30, intervalSeconds: Int32 = 10, probes: Int32 = 3) throws {
        try setOption(ZMQ_TCP_KEEPALIVE, 1)
        try setOption(ZMQ_TCP_KEEPALIVE_IDLE, idleSeconds)
        try setOption(ZMQ_TCP_KEEPALIVE_INTVL, intervalSeconds)
        try setOption(ZMQ_TCP_KEEPALIVE_CNT, probes)
    }

    /// The identity this socket presents to ROUTER peers (`ZMQ_ROUTING_ID`, 1–255 bytes, not starting with 0).
    public func setRoutingID(_ id: [UInt8]) throws {
        try setOption(ZMQ_ROUTING_ID, bytes: id)
    }

    /// The socket's routing id (`ZMQ_ROUTING_ID`); empty when none was set.
    public var routingID: [UInt8] {
        get throws { try bytesOption(ZMQ_ROUTING_ID, capacity: 255) }
    }

    // MARK: ROUTER

    /// Makes a ROUTER fail with ``ZMQError/hostUnreachable`` when sending to an unknown routing id,
    /// instead of silently dropping the message (`ZMQ_ROUTER_MANDATORY`).
    public func setRouterMandatory(_ on: Bool) throws {
        try setOption(ZMQ_ROUTER_MANDATORY, on ? 1 : 0)
    }

    /// Lets a new connection with an already-used routing id take it over from the old one (`ZMQ_ROUTER_HANDOVER`).
    public func setRouterHandover(_ on: Bool) throws {
        try setOption(ZMQ_ROUTER_HANDOVER, on ? 1 : 0)
    }

    // MARK: PUB/SUB

    /// Subscribes a SUB socket to messages whose first frame starts with `prefix` (`ZMQ_SUBSCRIBE`; empty = everything).
    public func subscribe(_ prefix: [UInt8]) throws {
        try setOption(ZMQ_SUBSCRIBE, bytes: prefix)
    }

    /// Subscribes a SUB socket to messages whose first frame starts with the UTF-8 bytes of `prefix`.
    public func subscribe(_ prefix: String) throws {
        try setOption(ZMQ_SUBSCRIBE, string: prefix)
    }

    /// Removes one matching subscription (`ZMQ_UNSUBSCRIBE`).
    public func unsubscribe(_ prefix: [UInt8]) throws {
        try setOption(ZMQ_UNSUBSCRIBE, bytes: prefix)
    }

    /// Removes one subscription to the UTF-8 bytes of `prefix` (`ZMQ_UNSUBSCRIBE`).
    public func unsubscribe(_ prefix: String) throws {
        try setOption(ZMQ_UNSUBSCRIBE, string: prefix)
    }

    /// Makes an XPUB pass every (un)subscription message up, including duplicates (`ZMQ_XPUB_VERBOSE`).
    public func setXPubVerbose(_ on: Bool) throws {
        try setOption(ZMQ_XPUB_VERBOSE, on ? 1 : 0)
    }

    /// Makes an XPUB leave subscription filtering to the application (`ZMQ_XPUB_MANUAL`).
    public func setXPubManual(_ on: Bool) throws {
        try setOption(ZMQ_XPUB_MANUAL, on ? 1 : 0)
    }

    /// Makes an XPUB return `EAGAIN` (send returns `false`) at the high-water mark instead of dropping (`ZMQ_XPUB_NODROP`).
    public func setXPubNoDrop(_ on: Bool) throws {
        try setOption(ZMQ_XPUB_NODROP, on ? 1 : 0)
    }

    // MARK: Security

    /// Makes this socket the CURVE server side of its connections (`ZMQ_CURVE_SERVER`); also set its
    /// secret key with ``setCurveKeys(publicKey:secretKey:)``.
    public func setCurveServer(_ on: Bool) throws {
        try setOption(ZMQ_CURVE_SERVER, on ? 1 : 0)
    }

    /// Sets this socket's long-term CURVE key pair (`ZMQ_CURVE_PUBLICKEY`, `ZMQ_CURVE_SECRETKEY`), as 40-character Z85 strings.
    ///
    /// - Throws: ``ZMQError/invalidArgument`` for malformed keys, ``ZMQError/notSupported`` without CURVE support.
    public func setCurveKeys(publicKey: String, secretKey: String) throws {
        try setOption(ZMQ_CURVE_PUBLICKEY, string: publicKey)
        try setOption(ZMQ_CURVE_SECRETKEY, string: secretKey)
    }

    /// Sets, on a CURVE client, the server's public key it expects (`ZMQ_CURVE_SERVERKEY`), as 40-character Z85.
    public func setCurveServerKey(_ z85: String) throws {
        try setOption(ZMQ_CURVE_SERVERKEY, string: z85)
    }

    /// Sets the ZAP authentication domain (`ZMQ_ZAP_DOMAIN`).
    public func setZAPDomain(_ domain: String) throws {
        try setOption(ZMQ_ZAP_DOMAIN, string: domain)
    }
}
