import ParleyWire

/// What the gateway asks the policy about one request: who calls whom, how, and with how many bytes.
public struct PolicyQuery: Sendable {
    /// The caller's layer (from its authenticated identity).
    public var fromLayer: String
    /// The layer the request is addressed to.
    public var toLayer: String
    /// The request's kind.
    public var kind: RequestKind
    /// The payload's size in bytes.
    public var payloadBytes: Int

    /// Makes a query.
    public init(fromLayer: String, toLayer: String, kind: RequestKind, payloadBytes: Int) {
        self.fromLayer = fromLayer
        self.toLayer = toLayer
        self.kind = kind
        self.payloadBytes = payloadBytes
    }
}
