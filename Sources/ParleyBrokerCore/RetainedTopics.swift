import ParleyWire

/// Every topic's log, and the broker-wide budget over what they retain together.
///
/// Each topic bounds its own retention (count, bytes, age); the budget bounds the sum, so that many topics cannot
/// add up to more memory than the operator allowed. An event counts its payload bytes plus
/// ``bookkeepingBytesPerEvent``. Over budget, the oldest events across all topics go first, down to 90% of the
/// budget (a sweep is one pass over the topics, so it makes room for many events at once).
struct RetainedTopics<Payload: BrokerPayload> {
    /// What one retained event costs beside its payload (its header, the payload's message structure), roughly.
    static var bookkeepingBytesPerEvent: Int { 256 }

    private let limits: BrokerConfiguration
    /// Every topic's log (changed only through ``update(_:_:)`` and the evictions, which keep the totals).
    private(set) var logs: [Topic: TopicLog<Payload>] = [:]
    /// Every agent's topics: an agent selector's REPLAY looks only at that agent's topics.
    private var topicsByAgent: [String: AgentTopics] = [:]

    /// One agent's topics, ordered by event name up to `sortedCount`; topics opened since are appended and put in
    /// order by the next read (an adaptive sort: about one pass for a sorted array with a short tail).
    private struct AgentTopics {
        var topics: [Topic] = []
        var sortedCount = 0
    }
    /// Payload bytes and events retained over all topics.
    private(set) var bytes = 0
    private(set) var events = 0
    /// Events dropped to keep within the broker-wide budget (not by their topic's own limits).
    private(set) var evictedForBudget: UInt64 = 0

    init(limits: BrokerConfiguration) {
        self.limits = limits
    }

    /// What the retained events cost in all, as counted against `retentionTotalBytes`.
    var footprint: Int { bytes + events * Self.bookkeepingBytesPerEvent }

    /// How many topics exist (a topic stays once opened: its sequence must never restart).
    var count: Int { logs.count }

    subscript(topic: Topic) -> TopicLog<Payload>? { logs[topic] }

    /// How many topics one agent has opened.
    func count(of agent: String) -> Int { topicsByAgent[agent]?.topics.count ?? 0 }

    /// One agent's topics, ordered by event name: sorted once after topics were opened, not per call (issue 12: a
    /// REPLAY flood on an agent with 99,000 topics sorted them all for every REPLAY).
    mutating func topics(of agent: String) -> [Topic] {
        guard var entry = topicsByAgent[agent] else { return [] }
        if entry.sortedCount < entry.topics.count {
            topicsByAgent[agent] = nil  // uniquely referenced while sorting
            entry.topics.sort { $0.event < $1.event }
            entry.sortedCount = entry.topics.count
            topicsByAgent[agent] = entry
        }
        return entry.topics
    }

    /// Changes one topic's log (opening it if new), then keeps the totals and the budget. `change` gets the
    /// retention limits with the log.
    mutating func update<Result>(_ topic: Topic, _ change: (inout TopicLog<Payload>, BrokerConfiguration) -> Result) -> Result {
        let index: Dictionary<Topic, TopicLog<Payload>>.Index
        if let existing = logs.index(forKey: topic) {
            index = existing
        } else {
            logs[topic] = TopicLog(topic: topic)
            topicsByAgent[topic.agent, default: AgentTopics()].topics.append(topic)
            index = logs.index(forKey: topic)!
        }
        let before = logs.values[index].size
        let result = change(&logs.values[index], limits)  // in place: one lookup, no copy of the log
        account(from: before, to: logs.values[index])
        if footprint > limits.retentionTotalBytes { shrinkToBudget() }
        return result
    }

    /// Applies every topic's own limits (the age limit moves with time).
    mutating func evictExpired(now: UInt64) {
        var index = logs.values.startIndex
        while index != logs.values.endIndex {
            let before = logs.values[index].size
            logs.values[index].evict(limits: limits, now: now)
            account(from: before, to: logs.values[index])
            logs.values.formIndex(after: &index)
        }
    }

    /// Drops the oldest events across topics until the footprint is at most 90% of the budget.
    private mutating func shrinkToBudget() {
        let target = limits.retentionTotalBytes - limits.retentionTotalBytes / 10
        var oldest = DeadlineHeap<Topic>()
        for (topic, log) in logs {
            if let retainedAt = log.oldestRetainedAt { oldest.insert(retainedAt, topic) }
        }
        while footprint > target, let topic = oldest.popDue(.max), var log = logs.removeValue(forKey: topic) {
            let before = log.size
            log.dropOldest()
            account(from: before, to: log)
            evictedForBudget += 1
            if let retainedAt = log.oldestRetainedAt { oldest.insert(retainedAt, topic) }
            logs[topic] = log
        }
    }

    /// Adds what a log retained or dropped since `before` to the totals.
    private mutating func account(from before: TopicLog<Payload>.Size, to log: TopicLog<Payload>) {
        bytes += log.retainedBytes - before.bytes
        events += log.retainedCount - before.events
    }
}
