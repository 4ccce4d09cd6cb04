/// PUBLISH: an agent raises an event on one of its own topics (agent → broker). The body is the payload.
public struct Publish: Hashable, Sendable {
    /// Chosen by the publisher; a resend with the same id is confirmed again, not published twice.
    public var eventID: CallbackID
    /// `callback.<publisher id>.<event>`.
    public var topic: Topic
    public var contentType: String
    public init(eventID: CallbackID, topic: Topic, contentType: String) {
        self.eventID = eventID; self.topic = topic; self.contentType = contentType
    }
}

/// CONFIRM: the broker has stamped and sent out an event (broker → publisher).
public struct Confirm: Hashable, Sendable {
    public var eventID: CallbackID
    /// The event's sequence number on its topic: 1, 2, 3 … never reused.
    public var sequence: UInt64
    /// Milliseconds since the Unix epoch, stamped by the broker.
    public var timestamp: UInt64
    public init(eventID: CallbackID, sequence: UInt64, timestamp: UInt64) {
        self.eventID = eventID; self.sequence = sequence; self.timestamp = timestamp
    }
}

/// CONFIRMS (protocol 1.1, for a publisher that asked for ``Features/confirmBatches``): consecutive events of one
/// publisher on one topic, stamped in the same broker turn, confirmed at once. The event with `eventIDs[i]` got
/// sequence `firstSequence + i`; all of them got `timestamp`.
public struct ConfirmBatch: Hashable, Sendable {
    /// At most this many events in one CONFIRMS.
    public static let maxCount = 4_096
    public var firstSequence: UInt64
    public var timestamp: UInt64
    /// In the order of their sequences; 1 to ``maxCount`` of them.
    public var eventIDs: [CallbackID]
    public init(firstSequence: UInt64, timestamp: UInt64, eventIDs: [CallbackID]) {
        self.firstSequence = firstSequence; self.timestamp = timestamp; self.eventIDs = eventIDs
    }

    /// The batch as one CONFIRM per event.
    public var confirms: [Confirm] {
        eventIDs.enumerated().map { Confirm(eventID: $1, sequence: firstSequence + UInt64($0), timestamp: timestamp) }
    }
}

/// EVENT: one event as subscribers receive it, live on the events socket or replayed on the agent socket.
/// The body is the payload.
public struct EventHeader: Hashable, Sendable {
    public var sequence: UInt64
    public var timestamp: UInt64
    public var eventID: CallbackID
    public var topic: Topic
    public var contentType: String
    public init(sequence: UInt64, timestamp: UInt64, eventID: CallbackID, topic: Topic, contentType: String) {
        self.sequence = sequence; self.timestamp = timestamp; self.eventID = eventID
        self.topic = topic; self.contentType = contentType
    }
}

/// REPLAY: ask for retained events again (any peer → broker), answered on the asking socket.
public struct Replay: Hashable, Sendable {
    /// One topic, or every topic of one agent.
    public var selector: TopicSelector
    /// The first sequence wanted (per topic).
    public var from: UInt64
    /// The last sequence wanted; 0 means up to the latest.
    public var to: UInt64
    public init(selector: TopicSelector, from: UInt64, to: UInt64 = 0) {
        self.selector = selector; self.from = from; self.to = to
    }
}

/// GAP: events `from`…`to` of a topic are no longer retained and cannot be replayed (broker → replayer).
public struct Gap: Hashable, Sendable {
    public var topic: Topic
    public var from: UInt64
    public var to: UInt64
    public init(topic: Topic, from: UInt64, to: UInt64) { self.topic = topic; self.from = from; self.to = to }
}

/// REPLAY_END: the answer to one REPLAY is complete (broker → replayer).
public struct ReplayEnd: Hashable, Sendable {
    public var selector: TopicSelector
    /// EVENTs sent for this REPLAY.
    public var events: UInt32
    /// True when the per-REPLAY limit cut the answer short: ask again after the last sequence received.
    public var truncated: Bool
    public init(selector: TopicSelector, events: UInt32, truncated: Bool) {
        self.selector = selector; self.events = events; self.truncated = truncated
    }
}

/// BEACON: the latest sequence of a recently active topic, sent on the events socket after its last
/// event so that a subscriber that missed the tail of a burst notices (broker → subscribers).
public struct Beacon: Hashable, Sendable {
    public var topic: Topic
    public var latest: UInt64
    public init(topic: Topic, latest: UInt64) { self.topic = topic; self.latest = latest }
}
