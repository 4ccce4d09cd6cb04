import ParleyWire

/// One message for the events (XPUB) socket, decoded (``EncodedOutbox/publications``, for tests and tools): the topic
/// frame, a header and an optional body.
public struct Publication<Payload: BrokerPayload> {
    /// `callback.<agent>.<event>.`: the frame subscriptions match by prefix.
    public var topicFrame: [UInt8]
    public var header: Header
    public var body: Payload?
}
