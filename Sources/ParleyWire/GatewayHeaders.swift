/// GATEWAY_HELLO: a gateway registers with the broker (gateway → broker). Answered by WELCOME, or by
/// ERROR UNAUTHORIZED unless the connection's CURVE key belongs to a gateway (or, in development mode
/// without keys, the token matches the broker's gateway token).
public struct GatewayHello: Hashable, Sendable {
    /// Random per gateway process, the same across its reconnects.
    public var instance: UInt64
    /// The gateway's id (the agent naming rules apply).
    public var gatewayID: String
    /// The shared development-mode token; empty when CURVE authenticates the gateway.
    public var token: String
    public init(instance: UInt64, gatewayID: String, token: String) {
        self.instance = instance; self.gatewayID = gatewayID; self.token = token
    }
}

/// FORWARD: a cross-layer request the gateway allowed, sent on behalf of a caller (gateway → broker).
/// The broker routes it like a REQUEST, without the same-layer rule and with `layer:` targets, and
/// answers the gateway with RESULT (and EXTENDED). The body is the payload.
public struct Forward: Hashable, Sendable {
    /// The gateway's own callback id for the call (unique per gateway).
    public var request: Request
    /// The agent the gateway authenticated as the caller; shown to the handler as the requester.
    public var caller: String
    /// The caller's layer, as the gateway established it.
    public var callerLayer: String
    public init(request: Request, caller: String, callerLayer: String) {
        self.request = request; self.caller = caller; self.callerLayer = callerLayer
    }
}
