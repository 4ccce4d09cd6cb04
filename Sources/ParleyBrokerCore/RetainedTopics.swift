import HeapModule
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
    /// The topic changed last and where it is in `logs`: a publisher's next event is most often on the same topic,
    /// found then with one comparison instead of hashing its names. Cleared whenever a topic leaves `logs` (which
    /// may move the others); set anew whenever one is added.
    private var lastChanged: (topic: Topic, index: Dictionary<Topic, TopicLog<Payload>>.Index)?
    /// Every agent's topics: an agent selector's REPLAY looks only at that agent's topics.
    private var topicsByAgent: [String: AgentTopics] = [:]

    /// One agent's topics, ordered by event name up to `sortedCount`; topics opened since are appended and put in
    /// order by the next read (an adaptive sort: about one pass for a sorted array with a short tail).
    private struct AgentTopics {
        var topics: [Topic] = []
        var sortedCount = 0
        /// The highest latest sequence among the agent's forgotten topics: a topic it publishes on anew starts after
        /// it, so that no sequence is ever given twice on one topic name.
        var floor: UInt64 = 0
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

    /// How many topics exist.
    var count: Int { logs.count }

    subscript(topic: Topic) -> TopicLog<Payload>? { logs[topic] }

    /// How many topics one agent holds.
    func count(of agent: String) -> Int { topicsByAgent[agent]?.topics.count ?? 0 }

    /// Above which sequence a topic the agent opens now starts (0 until one of its topics was forgotten).
    func floor(of agent: String) -> UInt64 { topicsByAgent[agent]?.floor ?? 0 }

    /// Every agent whose topics were forgotten, with its floor (for compacting the journal).
    var agentFloors: [(agent: String, floor: UInt64)] {
        topicsByAgent.compactMap { $0.value.floor > 0 ? ($0.key, $0.value.floor) : nil }
    }

    /// Takes back an agent's floor from the journal.
    mutating func restoreFloor(_ floor: UInt64, of agent: String) {
        topicsByAgent[agent, default: AgentTopics()].floor = max(floor, self.floor(of: agent))
    }

    /// Takes back from the journal that `topic` was forgotten at `latest`: it goes (with whatever the journal's
    /// earlier records put back in it) and its agent's floor rises to `latest`.
    mutating func restoreForgotten(_ topic: Topic, latest: UInt64) {
        if let log = logs[topic] {
            bytes -= log.retainedBytes
            events -= log.retainedCount
            _ = forget([topic])
        }
        restoreFloor(latest, of: topic.agent)
    }

    /// Drops everything `topic` retains; its sequence goes on. Only for a topic the broker holds (`self[topic]`).
    mutating func purge(_ topic: Topic) -> (events: Int, bytes: Int, latest: UInt64) {
        update(topic) { log, _ in
            let dropped = log.purge(through: log.latest)
            return (dropped.events, dropped.bytes, log.latest)
        }
    }

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
        modify(topic, afterFloor: false, mayOpen: { _, _ in true }, change)!
    }

    /// As `update`, for a PUBLISH: a new topic opens after its agent's floor, and only when `mayOpen` (given how many
    /// topics the agent and the broker hold) says so; else nil and nothing changes. One lookup of the topic either way.
    mutating func publish<Result>(_ topic: Topic, mayOpen: (_ agentTopics: Int, _ allTopics: Int) -> Bool,
                                  _ change: (inout TopicLog<Payload>, BrokerConfiguration) -> Result) -> Result? {
        modify(topic, afterFloor: true, mayOpen: mayOpen, change)
    }

    /// A topic a publisher opens starts after its agent's floor; one the journal restores does not (its events may
    /// predate the floor).
    private mutating func modify<Result>(_ topic: Topic, afterFloor: Bool, mayOpen: (Int, Int) -> Bool,
                                         _ change: (inout TopicLog<Payload>, BrokerConfiguration) -> Result) -> Result? {
        let index: Dictionary<Topic, TopicLog<Payload>>.Index
        if let last = lastChanged, last.topic == topic {
            index = last.index
        } else if let existing = logs.index(forKey: topic) {
            index = existing
            lastChanged = (topic, index)
        } else {
            guard mayOpen(count(of: topic.agent), logs.count) else { return nil }
            logs[topic] = TopicLog(topic: topic, latest: afterFloor ? floor(of: topic.agent) : 0)
            topicsByAgent[topic.agent, default: AgentTopics()].topics.append(topic)
            index = logs.index(forKey: topic)!
            lastChanged = (topic, index)
        }
        let before = logs.values[index].size
        let result = change(&logs.values[index], limits)  // in place: one lookup, no copy of the log
        account(from: before, to: logs.values[index])
        if footprint > limits.retentionTotalBytes { shrinkToBudget() }
        return result
    }

    /// Applies every topic's own limits (the age limit moves with time), then forgets the topics left with nothing
    /// to replay (and no BEACON to send) of each agent holding its quota of topics, or of every agent when the
    /// broker holds its maximum: a quota filled with abandoned topics frees up. Returns the forgotten topics with
    /// their latest sequences.
    mutating func evictExpired(now: UInt64) -> [(topic: Topic, latest: UInt64)] {
        let brokerFull = logs.count >= limits.maxTopics
        var forgettable: [Topic] = []
        var index = logs.values.startIndex
        while index != logs.values.endIndex {
            let before = logs.values[index].size
            logs.values[index].evict(limits: limits, now: now)
            account(from: before, to: logs.values[index])
            let log = logs.values[index]
            if log.retainedCount == 0, log.beaconsLeft == 0 {
                let topic = logs.keys[index]
                if brokerFull || count(of: topic.agent) >= limits.maxTopicsPerAgent { forgettable.append(topic) }
            }
            logs.values.formIndex(after: &index)
        }
        return forget(forgettable)
    }

    /// Removes `forgotten` (topics with nothing retained: their totals are already out) and raises their agents'
    /// floors past their sequences. Returns each with its latest sequence.
    private mutating func forget(_ forgotten: [Topic]) -> [(topic: Topic, latest: UInt64)] {
        guard !forgotten.isEmpty else { return [] }
        lastChanged = nil
        var gone: [(topic: Topic, latest: UInt64)] = []
        var floors: [String: UInt64] = [:]
        for topic in forgotten {
            guard let log = logs.removeValue(forKey: topic) else { continue }
            gone.append((topic, log.latest))
            floors[topic.agent] = max(floors[topic.agent] ?? 0, log.latest)
        }
        let goneTopics = Set(gone.map(\.topic))
        for (agent, highest) in floors {
            guard var entry = topicsByAgent.removeValue(forKey: agent) else { continue }
            entry.topics.removeAll { goneTopics.contains($0) }  // one pass per agent, whatever it lost
            entry.sortedCount = 0
            entry.floor = max(entry.floor, highest)
            topicsByAgent[agent] = entry
        }
        return gone
    }

    /// Drops the oldest events across topics until the footprint is at most 90% of the budget.
    private mutating func shrinkToBudget() {
        let target = limits.retentionTotalBytes - limits.retentionTotalBytes / 10
        lastChanged = nil  // topics are taken out and put back
        var oldest = Heap<Due<Topic>>()
        for (topic, log) in logs {
            if let retainedAt = log.oldestRetainedAt { oldest.insert(Due(retainedAt, topic)) }
        }
        while footprint > target, let topic = oldest.popMin()?.key, var log = logs.removeValue(forKey: topic) {
            let before = log.size
            log.dropOldest()
            account(from: before, to: log)
            evictedForBudget += 1
            if let retainedAt = log.oldestRetainedAt { oldest.insert(Due(retainedAt, topic)) }
            logs[topic] = log
        }
    }

    /// Adds what a log retained or dropped since `before` to the totals.
    private mutating func account(from before: TopicLog<Payload>.Size, to log: TopicLog<Payload>) {
        bytes += log.retainedBytes - before.bytes
        events += log.retainedCount - before.events
    }
}
