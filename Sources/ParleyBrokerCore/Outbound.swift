import ParleyWire

/// One message the broker core wants sent, decoded (``EncodedOutbox/messages``, for tests and tools): to a peer, a
/// header, and an optional body frame.
public struct Outbound<Payload: BrokerPayload> {
    /// What goes in the body frame.
    public enum Body {
        /// No body frame.
        case none
        /// A payload moved through the broker untouched.
        case payload(Payload)
        /// A UTF-8 reason written by the broker (errors, broker-made outcomes).
        case text(String)
    }

    public var peer: PeerID
    public var header: Header
    public var body: Body
}
