import ParleyWire

/// Running totals kept by the broker core, reported by STATUS.
public struct BrokerCounters: Sendable {
    /// Outcomes sent to requesters, indexed by `Status.rawValue`.
    public var outcomes = [UInt64](repeating: 0, count: Status.allCases.count)
    /// Requests accepted for routing.
    public var accepted: UInt64 = 0
    /// DELIVER messages sent, redeliveries included.
    public var deliveries: UInt64 = 0
    /// Deliveries after the first for the same request.
    public var redeliveries: UInt64 = 0
    /// Replies that arrived after their request had ended (or for a delivery that was moved on), dropped.
    public var lateReplies: UInt64 = 0
    /// Retries answered from the pending table or the outcome cache instead of being delivered again.
    public var dedupeHits: UInt64 = 0
    /// Messages refused as malformed (BAD_REQUEST or ERROR).
    public var malformed: UInt64 = 0
    /// HELLOs refused because another live agent holds the id.
    public var duplicateIDsRefused: UInt64 = 0
    /// Events stamped and sent out.
    public var eventsPublished: UInt64 = 0
    /// Events sent again in answer to REPLAY.
    public var eventsReplayed: UInt64 = 0
    /// GAP notices sent.
    public var gapsReported: UInt64 = 0
    /// PUBLISH resends answered with the original CONFIRM.
    public var eventDedupeHits: UInt64 = 0

    /// The count of outcomes with `status`.
    public func outcomes(_ status: Status) -> UInt64 { outcomes[Int(status.rawValue)] }
}
