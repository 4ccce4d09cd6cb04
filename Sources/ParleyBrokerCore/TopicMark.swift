import ParleyWire

/// A change to a topic that the event journal records when it happens, so that a restart does not undo it
/// (docs/PROTOCOL.md §7.10).
public enum TopicMark: Sendable, Equatable {
    /// The topic was forgotten at this latest sequence: it goes, and its agent's floor rises to it (journal kind 4).
    case forgotten(Topic, latest: UInt64)
    /// An administrator purged the topic's events up to this sequence (journal kind 5).
    case purged(Topic, through: UInt64)
}
