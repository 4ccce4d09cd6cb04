/// The body of STATUS_REPLY: the broker's state as a JSON document (the admin path, not the hot one).
public struct BrokerSnapshot: Codable, Sendable {
    /// One registered agent.
    public struct Agent: Codable, Sendable {
        public var id: String
        public var layer: String
        public var capabilities: [String]
        /// `alive`, or `away` when it stopped heartbeating and may come back.
        public var state: String
        /// Requests delivered to it and not yet answered.
        public var inFlight: Int

        public init(id: String, layer: String, capabilities: [String], state: String, inFlight: Int) {
            self.id = id; self.layer = layer; self.capabilities = capabilities; self.state = state; self.inFlight = inFlight
        }
    }

    public var agents: [Agent]
    /// True when `agents` is left empty because the asking identity is not an observer (CURVE mode); absent otherwise.
    public var agentsWithheld: Bool?
    /// Requests accepted and not yet ended.
    public var pending: Int
    /// Pending requests waiting for an agent to become available.
    public var waiting: Int
    /// Outcomes sent, by status name.
    public var outcomes: [String: UInt64]
    public var accepted: UInt64
    public var deliveries: UInt64
    public var redeliveries: UInt64
    public var lateReplies: UInt64
    public var dedupeHits: UInt64
    public var malformed: UInt64
    public var duplicateIDsRefused: UInt64
    /// Finished outcomes held to answer retries.
    public var cachedOutcomes: Int
    /// Topics that have carried at least one event.
    public var topics: Int = 0
    /// Events stamped and sent out.
    public var eventsPublished: UInt64 = 0
    /// Events sent again in answer to REPLAY.
    public var eventsReplayed: UInt64 = 0
    /// GAP notices sent.
    public var gapsReported: UInt64 = 0
    /// PUBLISH resends answered with the original CONFIRM.
    public var eventDedupeHits: UInt64 = 0
    /// Events retained for replay, over all topics.
    public var retainedEvents: Int = 0
    /// Their payload bytes.
    public var retainedBytes: Int = 0
    /// Events that left retention early to keep all topics together within the broker-wide budget.
    public var eventsEvictedForBudget: UInt64 = 0

    public init(agents: [Agent], pending: Int, waiting: Int, outcomes: [String: UInt64], accepted: UInt64,
                deliveries: UInt64, redeliveries: UInt64, lateReplies: UInt64, dedupeHits: UInt64, malformed: UInt64,
                duplicateIDsRefused: UInt64, cachedOutcomes: Int) {
        self.agents = agents; self.pending = pending; self.waiting = waiting; self.outcomes = outcomes
        self.accepted = accepted; self.deliveries = deliveries; self.redeliveries = redeliveries
        self.lateReplies = lateReplies; self.dedupeHits = dedupeHits; self.malformed = malformed
        self.duplicateIDsRefused = duplicateIDsRefused; self.cachedOutcomes = cachedOutcomes
    }
}
