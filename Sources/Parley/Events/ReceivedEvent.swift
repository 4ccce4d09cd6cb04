/// An event another agent raised, as a subscriber receives it.
public struct ReceivedEvent: Sendable {
    /// `callback.<agent>.<event>`.
    public var topic: Topic
    /// Its sequence number on the topic (1, 2, 3 … without holes unless a GAP says so).
    public var sequence: UInt64
    /// When the broker stamped it, in milliseconds since the Unix epoch.
    public var timestamp: UInt64
    /// The publisher's id for it.
    public var eventID: CallbackID
    public var contentType: String
    /// The payload.
    public var data: [UInt8]
    /// True when it came from a replay rather than live.
    public var replayed: Bool

    /// Decodes the JSON payload.
    public func decode<Value: Decodable>(_ type: Value.Type = Value.self) throws -> Value {
        try JSONPayload.decode(type, from: data)
    }
}

/// What a subscription yields: events in order, and explicit notices of events that can no longer be had.
public enum EventNotice: Sendable {
    case event(ReceivedEvent)
    /// Events `from`…`to` of `topic` are no longer retained by the broker: they are lost to this subscriber.
    case gap(topic: Topic, from: UInt64, to: UInt64)
}

/// Where a subscription starts.
public enum SubscriptionStart: Sendable, Equatable {
    /// With the first live event that arrives for each topic.
    case now
    /// With this sequence number on each topic (older events are replayed first).
    case sequence(UInt64)
}

/// The receipt of a published event.
public struct EventReceipt: Sendable, Equatable {
    public var topic: Topic
    public var sequence: UInt64
    public var timestamp: UInt64
    public var eventID: CallbackID
}
