import ParleyWire

/// Events: stamping, confirming, retention, replay with GAP notices, and beacons.
extension BrokerCore {
    /// PUBLISH: stamp the next sequence of the topic, send the event out, retain it, confirm it (with a CONFIRM, or
    /// in the turn's CONFIRMS for a publisher that asked for batches). A resend of a confirmed event id is confirmed
    /// again with its original sequence, not sent twice.
    mutating func publish(_ publish: Publish, body: Payload?, from agentID: String, batchingConfirms: Bool, peer: PeerID, now: UInt64) {
        let command = CommandCode.publish.rawValue
        guard publish.topic.agent == agentID else {
            return refuse(status: .unauthorized, command: command, callbackID: publish.eventID, peer: peer,
                          reason: "agent '\(agentID)' may publish only on callback.\(agentID).<event>, not \(publish.topic)")
        }
        let key = RequestKey(requester: agentID, callbackID: publish.eventID)  // the publisher and its event id
        if let confirmed = confirmedEvents.lookup(key) {
            counters.eventDedupeHits += 1
            return outbox.append(to: peer) { HeaderEncoder.encodeConfirm(confirmed, into: &$0) }
        }
        let timestamp = wallClockOffset &+ now
        let beaconRounds = configuration.beaconRounds
        var refusal: String?
        let (perAgent, inAll) = (configuration.maxTopicsPerAgent, configuration.maxTopics)
        let mayOpen = { (agentTopics: Int, allTopics: Int) -> Bool in
            if agentTopics >= perAgent {
                refusal = "agent '\(agentID)' holds its maximum of \(perAgent) topics "
                    + "(those whose events all left retention are forgotten at the next heartbeat)"
            } else if allTopics >= inAll {
                refusal = "the broker holds its maximum of \(inAll) topics"
            }
            return refusal == nil
        }
        let stamped = topics.publish(publish.topic, mayOpen: mayOpen) { log, limits in
            let header = EventHeader(sequence: log.nextSequence(), timestamp: timestamp, eventID: publish.eventID,
                                     topic: publish.topic, contentType: publish.contentType)
            log.retain(RetainedEvent(header: header, payload: body, size: body?.byteCount ?? 0, retainedAt: now), limits: limits, now: now)
            let newlyActive = log.beaconsLeft == 0
            log.beaconsLeft = beaconRounds
            return (header, log.frame, newlyActive)
        }
        guard let (header, topicFrame, newlyActive) = stamped else {
            return refuse(status: .overloaded, command: command, callbackID: publish.eventID, peer: peer, reason: refusal ?? "")
        }
        if newlyActive, beaconRounds > 0 { beaconTopics.append(publish.topic) }
        publications.append(to: topicFrame, body: body.map { .payload($0) } ?? .none) { HeaderEncoder.encodeEvent(header, into: &$0) }
        let confirm = Confirm(eventID: publish.eventID, sequence: header.sequence, timestamp: header.timestamp)
        confirmedEvents.insert(key, confirm, now: now)
        if configuration.journaling { journal.append((header, body)) }
        counters.eventsPublished += 1
        if batchingConfirms {
            confirmBatches.add(confirm, topic: publish.topic, peer: peer)
        } else {
            outbox.append(to: peer) { HeaderEncoder.encodeConfirm(confirm, into: &$0) }
        }
    }

    /// REPLAY: the retained events of one topic (or of all of one agent's topics) from a sequence on,
    /// a GAP for the part retention no longer holds, then REPLAY_END. With CURVE, only of an agent whose events
    /// `identity` may read (its keys entry's `readers`).
    mutating func replay(_ replay: Replay, to peer: PeerID, identity: String?) {
        let publisher = switch replay.selector {
        case .topic(let topic): topic.agent
        case .agent(let agent): agent
        }
        if let keyRing, !keyRing.mayRead(publisher, reader: identity) {
            return refuse(status: .unauthorized, command: CommandCode.replay.rawValue, callbackID: nil, peer: peer,
                          reason: "\(identity.map { "identity '\($0)'" } ?? "an unauthenticated connection") may not read the events of '\(publisher)'")
        }
        var budget = ReplayBudget(events: configuration.maxReplayBatch, bytes: configuration.maxReplayBatchBytes)
        var sent: UInt32 = 0
        switch replay.selector {
        case .topic(let topic):
            let latest = topics[topic]?.latest ?? topics.floor(of: topic.agent)
            guard replay.from <= latest + 1 else {
                return refuse(status: .badRequest, command: CommandCode.replay.rawValue, callbackID: nil, peer: peer,
                              reason: "replay from \(replay.from) is beyond the latest sequence \(latest) of \(topic)")
            }
            sent = replayTopic(topic, replay, to: peer, budget: &budget)
        case .agent(let agent):
            for topic in topics.topics(of: agent) {
                sent += replayTopic(topic, replay, to: peer, budget: &budget)
                if budget.cutShort { break }  // the batch is full: REPLAY_END says truncated
            }
        }
        send(peer, .replayEnd(ReplayEnd(selector: replay.selector, events: sent, truncated: budget.cutShort)))
    }

    /// Sends one topic's part of a replay; `budget.cutShort` is set when the batch limits cut it short.
    private mutating func replayTopic(_ topic: Topic, _ replay: Replay, to peer: PeerID, budget: inout ReplayBudget) -> UInt32 {
        guard let log = topics[topic] else {
            // Unknown, or forgotten: whatever it had up to its agent's floor has left retention.
            let floor = topics.floor(of: topic.agent)
            let last = replay.to == 0 ? floor : min(replay.to, floor)
            if replay.from <= last {
                counters.gapsReported += 1
                send(peer, .gap(Gap(topic: topic, from: replay.from, to: last)))
            }
            return 0
        }
        guard replay.from <= log.latest else { return 0 }
        let last = replay.to == 0 ? log.latest : min(replay.to, log.latest)
        guard replay.from <= last else { return 0 }
        let oldest = log.oldestRetained
        if replay.from < oldest {
            counters.gapsReported += 1
            send(peer, .gap(Gap(topic: topic, from: replay.from, to: min(oldest - 1, last))))
        }
        var sent: UInt32 = 0
        guard max(replay.from, oldest) <= last else { return 0 }  // everything asked for has left retention
        for event in log.events(in: max(replay.from, oldest)...last) {
            guard budget.take(payloadBytes: event.payload?.byteCount ?? 0) else { break }
            sent += 1
            send(peer, .event(event.header), event.payload.map { .payload($0) } ?? .none)
        }
        counters.eventsReplayed += UInt64(sent)
        return sent
    }

    /// Takes back an event from the journal at start-up: its topic's sequence counter, its place in
    /// retention, and its event id for publisher de-duplication. `age` is how old it is, in milliseconds.
    public mutating func restore(_ header: EventHeader, body: Payload?, age: UInt64, now: UInt64) {
        topics.update(header.topic) { log, limits in
            log.restore(RetainedEvent(header: header, payload: body, size: body?.byteCount ?? 0, retainedAt: now &- min(age, now)),
                        limits: limits, now: now)
        }
        confirmedEvents.insert(RequestKey(requester: header.topic.agent, callbackID: header.eventID),
                               Confirm(eventID: header.eventID, sequence: header.sequence, timestamp: header.timestamp), now: now)
    }

    /// Takes back a topic's latest sequence from the journal (its events may all have left retention).
    public mutating func restoreLatest(_ topic: Topic, _ latest: UInt64) {
        topics.update(topic) { log, _ in log.restoreLatest(latest) }
    }

    /// Takes back from the journal the floor of an agent whose topics were forgotten.
    public mutating func restoreTopicFloor(_ floor: UInt64, of agent: String) {
        topics.restoreFloor(floor, of: agent)
    }

    /// Takes back a forgotten or purged topic from the journal: a forgotten one goes (its agent's floor rises), a
    /// purged one loses the events up to the purge, whether they were read before the mark or come after it.
    public mutating func restore(_ mark: TopicMark) {
        switch mark {
        case .forgotten(let topic, let latest): topics.restoreForgotten(topic, latest: latest)
        case .purged(let topic, let through): topics.update(topic) { log, _ in log.restorePurge(through: through) }
        }
    }

    /// After the journal is loaded: applies retention's age limit to what came back and forgets the topics left with
    /// nothing retained of agents at their topic quota, as the heartbeat does, so that the compacted journal drops them.
    public mutating func evictRestoredEvents(now: UInt64) {
        _ = topics.evictExpired(now: now)
    }

    /// Every agent whose topics were forgotten, with the sequence its new topics start after (for compacting the journal).
    public var topicFloors: [(agent: String, floor: UInt64)] { topics.agentFloors }

    /// Why a subscription to the topic-frame prefix `prefix` from `identity` (its CURVE `User-Id`) is refused, or nil
    /// when the events socket may take it: with CURVE, it may not cover an agent whose events the identity may not read.
    public func subscriptionProblem(_ prefix: UnsafeRawBufferPointer, identity: String?) -> String? {
        guard let keyRing, let publisher = keyRing.forbiddenPublisher(inSubscription: prefix, reader: identity) else { return nil }
        return "\(identity.map { "identity '\($0)'" } ?? "an unauthenticated connection") may not read the events of '\(publisher)'"
    }

    /// Each topic's floor, for compacting the journal while running: the sequence before its oldest retained event
    /// (its latest when none is retained). A journal keeping the events above the floors, after a latest record
    /// of each floor, loads back to the same state.
    public func journalFloors() -> [Topic: UInt64] {
        var floors: [Topic: UInt64] = [:]
        floors.reserveCapacity(topics.count)
        for (topic, log) in topics.logs { floors[topic] = log.oldestRetained - 1 }
        return floors
    }

    /// What the retained events cost, as counted against `retentionTotalBytes`: payload bytes plus 256 per event,
    /// more than an event's journal record adds to its payload, so a compacted journal is always below twice it.
    public var retainedEventFootprint: Int { topics.footprint }

    /// Every topic's latest sequence and retained events, for compacting the journal.
    public func forEachTopic(_ body: (Topic, UInt64, [(header: EventHeader, body: Payload?)]) throws -> Void) rethrows {
        for (topic, log) in topics.logs {
            try body(topic, log.latest, log.retainedEvents.map { ($0.header, $0.payload) })
        }
    }

    /// Once per heartbeat: a BEACON with the latest sequence of each recently active topic, and
    /// age-based eviction of retained events.
    mutating func sendBeaconsAndEvictEvents(now: UInt64) {
        var stillActive = 0
        for index in beaconTopics.indices {
            let topic = beaconTopics[index]
            let (frame, latest, left) = topics.update(topic) { log, _ in
                log.beaconsLeft -= 1
                return (log.frame, log.latest, log.beaconsLeft)
            }
            publications.append(to: frame, header: .beacon(Beacon(topic: topic, latest: latest)))
            if left > 0 {
                beaconTopics[stillActive] = topic
                stillActive += 1
            }
        }
        beaconTopics.removeLast(beaconTopics.count - stillActive)
        let forgotten = topics.evictExpired(now: now)
        if configuration.journaling { topicMarks += forgotten.map { .forgotten($0.topic, latest: $0.latest) } }
    }
}
