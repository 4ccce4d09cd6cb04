import ParleyWire

extension BrokerCore {
    /// The state reported by STATUS: agents, pending work and the counters.
    public func snapshot() -> BrokerSnapshot {
        let agentList = agents.values.sorted { $0.id < $1.id }.map { record in
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
        return snapshot
    }
}
