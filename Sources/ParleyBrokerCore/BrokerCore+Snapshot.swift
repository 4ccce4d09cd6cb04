import ParleyWire

extension BrokerCore {
    /// The state reported by STATUS: agents (unless `includingAgents` is false), pending work and the counters.
    public func snapshot(includingAgents: Bool = true) -> BrokerSnapshot {
        let agentList = !includingAgents ? [] : agents.all.map(\.record).sorted { $0.id < $1.id }.map { record in
            BrokerSnapshot.Agent(id: record.id, layer: record.layer, capabilities: record.capabilities,
                                 state: record.isAlive ? "alive" : "away", inFlight: record.inFlight)
        }
        var outcomeCounts: [String: UInt64] = [:]
        for status in Status.allCases { outcomeCounts[status.description] = counters.outcomes(status) }
        var snapshot = BrokerSnapshot(agents: agentList, pending: pending.count,
                              waiting: waiting.count,
                              outcomes: outcomeCounts, accepted: counters.accepted, deliveries: counters.deliveries,
                              redeliveries: counters.redeliveries, lateReplies: counters.lateReplies,
                              dedupeHits: counters.dedupeHits, malformed: counters.malformed,
                              duplicateIDsRefused: counters.duplicateIDsRefused, cachedOutcomes: outcomes.count)
        snapshot.topics = topics.count
        snapshot.eventsPublished = counters.eventsPublished
        snapshot.eventsReplayed = counters.eventsReplayed
        snapshot.gapsReported = counters.gapsReported
        snapshot.eventDedupeHits = counters.eventDedupeHits
        snapshot.retainedEvents = topics.events
        snapshot.retainedBytes = topics.bytes
        snapshot.eventsEvictedForBudget = topics.evictedForBudget
        if !includingAgents { snapshot.agentsWithheld = true }
        return snapshot
    }

    /// How long ago each registered agent was last heard from, in milliseconds, by id (for the console's "last seen").
    public func silences(now: UInt64) -> [String: UInt64] {
        var silences: [String: UInt64] = [:]
        for (_, record) in agents.all { silences[record.id] = now &- min(record.lastHeard, now) }
        return silences
    }

    /// Whether a STATUS from `identity` (the connection's CURVE `User-Id`) may list the agents: always without CURVE,
    /// with it only for identities the keys file marks `observer: true`.
    public func mayListAgents(identity: String?) -> Bool {
        guard let keyRing else { return true }
        return identity.flatMap(keyRing.entry(forID:))?.observer == true
    }
}
