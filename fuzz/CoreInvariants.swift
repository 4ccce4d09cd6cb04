@testable import ParleyBrokerCore
import ParleyWire

// What must hold after every step of a core fuzz script. A broken invariant is a crash (fatalError), which
// libFuzzer saves as an input to replay. The rules come from docs/PROTOCOL.md and the broker-core tests
// (ExactlyOnceTests, DedupeTests, EventCoreTests):
//
// Exactly one outcome
//  - a step accepts at most one request; `counters.accepted` counts exactly the keys added to the pending
//    table, and accepted − ended == pending at every step;
//  - a request that ends sends one RESULT to its requester when the requester is connected before and
//    after the step, never two; a step never sends two RESULTs for the same (peer, callback id);
//  - a RESULT for a request that did not end in the step answers the step's own REQUEST/FORWARD/CANCEL
//    (or refusal) with that callback id, and the request is not pending (a refusal of a pending request
//    must be an ERROR, or the request would get a second RESULT later); a CANCEL of an unknown id gets no RESULT;
//  - the outcome counters grow by exactly the number of ended requests plus the RESULTs that ended nothing;
//  - handler statuses come only from the serving agent's REPLY; CANCELLED only from the requester's CANCEL;
//    TIMEOUT never before the deadline; after the timers ran, no pending request is past its deadline;
//  - when the script ends, running the clock past every deadline leaves nothing pending.
// De-duplication
//  - a retry of a pending request sends nothing (same payload) or one ERROR (other payload);
//  - a retry of a finished request within the documented guarantee (less than the window old and fewer than
//    capacity/2 outcomes stored since) is answered from the cache with the recorded outcome, not run again;
//  - a cached outcome equals the RESULT the request ended with;
//  - the same for events: a resend within the guarantee is confirmed again with the original CONFIRM.
// Routing and bookkeeping
//  - a DELIVER goes to the serving agent's current connection, never to a gateway, and to an agent the
//    target allows (the addressed agent; a capable one in the requester's layer; the named layer);
//  - a delivery id is never issued twice by one core; it finds its request's slot (`pending.slot(delivery:)`)
//    while it is that request's current delivery and nothing once it is not (a late REPLY);
//  - the pending slab and its key index agree (every key's slot holds the request with that key, as many keys
//    as requests); each agent's served list (linked through the requests) holds exactly the requests it serves,
//    once, with its in-flight count; a request's requester handle, while current, names its requester's id;
//    per-requester counts, the peer map (`agents.byPeer`), the id lookup and the capability pools agree with
//    the pending requests and the agent records; caches, topics and pending stay within their configured
//    bounds (the outcome ring within its count and byte budget), and the waiting list holds no more ended
//    requests than waiting ones (+1).
// Events
//  - per topic, EVENT sequences go 1, 2, 3 … with no gap or reuse; CONFIRM names its event's sequence;
//    BEACON names the latest; a REPLAY answer is a GAP for what retention lost, then consecutive EVENTs,
//    then REPLAY_END counting them, covering the whole range asked for unless it says `truncated`.

struct Checker {
    let configuration: BrokerConfiguration
    private(set) var stepNumber = 0
    private var label = ""
    /// Requests ended so far.
    private var totalEnded = 0
    /// How each request ended last: status, when, its payload fingerprint, and the outcome-cache insert count then.
    private var lastEnd: [RequestKey: (status: Status?, attempts: UInt8, time: UInt64, fingerprint: UInt64, inserts: UInt64)] = [:]
    private var outcomeInserts: UInt64 = 0
    private var topicLatest: [Topic: UInt64] = [:]
    /// Every event published, by topic and sequence (to compare what a restart brings back).
    private var publishedEvents: [Topic: [UInt64: EventHeader]] = [:]
    private var confirms: [EventKey: (confirm: Confirm, inserts: UInt64)] = [:]
    private var confirmInserts: UInt64 = 0
    /// Every delivery id the current core has sent (none may come twice).
    private var issuedDeliveries: Set<UInt64> = []

    init(configuration: BrokerConfiguration) {
        self.configuration = configuration
    }

    func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                 file: StaticString = #fileID, line: UInt = #line) {
        if !condition() {
            fatalError("invariant broken at step \(stepNumber) (\(label)): \(message())", file: file, line: line)
        }
    }

    mutating func check(before: BrokerCore<FuzzPayload>, after core: BrokerCore<FuzzPayload>, input: StepInput, now: UInt64,
                        outbox: [Outbound<FuzzPayload>], publications: [Publication<FuzzPayload>]) {
        stepNumber += 1
        label = input.label
        let pendingBefore = before.pendingByKey
        let pendingAfter = core.pendingByKey
        require(pendingAfter.count == core.pending.count, "\(core.pending.count) pending requests under \(pendingAfter.count) keys")
        checkCounters(before.counters, core.counters)
        let unmatched = checkOutcomes(before: before, after: core, pendingBefore, pendingAfter, input: input, now: now, outbox: outbox)
        checkImmediateAnswers(unmatched, before: before, after: core, pendingBefore, pendingAfter, input: input, outbox: outbox)
        checkDeduplication(before: before, after: core, pendingBefore, pendingAfter, input: input, now: now, outbox: outbox)
        checkDeliveries(before: before, after: core, outbox: outbox)
        if input.isTick {
            for (key, request) in pendingAfter {
                require(request.deadline > now, "request \(key.callbackID) of \(key.requester) is past its deadline after tick")
            }
        }
        checkTables(core)
        checkDeliveryIDs(pendingBefore, after: core, outbox: outbox)
        checkEvents(before: before, after: core, input: input, outbox: outbox, publications: publications)
        if case .replay(let replay)? = input.header, let peer = input.peer {
            checkReplay(replay, before: before, after: core, peer: peer, outbox: outbox)
        }
    }

    // MARK: - Outcomes

    private func checkCounters(_ old: BrokerCounters, _ new: BrokerCounters) {
        let pairs: [(String, UInt64, UInt64)] = [
            ("accepted", old.accepted, new.accepted), ("deliveries", old.deliveries, new.deliveries),
            ("redeliveries", old.redeliveries, new.redeliveries), ("lateReplies", old.lateReplies, new.lateReplies),
            ("dedupeHits", old.dedupeHits, new.dedupeHits), ("malformed", old.malformed, new.malformed),
            ("duplicateIDsRefused", old.duplicateIDsRefused, new.duplicateIDsRefused),
            ("eventsPublished", old.eventsPublished, new.eventsPublished), ("eventsReplayed", old.eventsReplayed, new.eventsReplayed),
            ("gapsReported", old.gapsReported, new.gapsReported), ("eventDedupeHits", old.eventDedupeHits, new.eventDedupeHits),
        ]
        for (name, before, after) in pairs { require(after >= before, "counter \(name) went down: \(before) → \(after)") }
        for index in old.outcomes.indices { require(new.outcomes[index] >= old.outcomes[index], "outcome counter \(index) went down") }
        require(new.redeliveries <= new.deliveries, "more redeliveries than deliveries")
    }

    /// Checks the requests that ended in this step; returns the indices of RESULTs no ended request explains.
    private mutating func checkOutcomes(before: BrokerCore<FuzzPayload>, after core: BrokerCore<FuzzPayload>,
                                        _ pendingBefore: PendingTable, _ pendingAfter: PendingTable, input: StepInput,
                                        now: UInt64, outbox: [Outbound<FuzzPayload>]) -> [Int] {
        let added = pendingAfter.keys.filter { pendingBefore[$0] == nil }
        let ended = pendingBefore.keys.filter { pendingAfter[$0] == nil }
        require(added.count <= 1, "one step accepted \(added.count) requests")
        require(core.counters.accepted - before.counters.accepted == UInt64(added.count),
                "accepted grew by \(core.counters.accepted - before.counters.accepted) but \(added.count) request(s) became pending")
        if let key = added.first {
            require(input.callbackID == key.callbackID && input.peer.flatMap { before.agentID(on: $0) } == key.requester,
                    "request \(key.callbackID) of \(key.requester) became pending without being sent")
        }
        totalEnded += ended.count
        require(Int(core.counters.accepted) - totalEnded == core.pending.count,
                "accepted \(core.counters.accepted) − ended \(totalEnded) ≠ pending \(core.pending.count)")

        var results: [Int] = []
        var perPeerAndID: [PeerAndID: Int] = [:]
        for (index, message) in outbox.enumerated() {
            guard case .result(let result) = message.header else { continue }
            results.append(index)
            perPeerAndID[PeerAndID(peer: message.peer, id: result.callbackID), default: 0] += 1
        }
        for (key, count) in perPeerAndID {
            require(count == 1, "\(count) RESULTs for callback id \(key.id) to peer \(key.peer) in one step")
        }

        // A RESULT belongs to the agent its peer is registered as after the step (a peer that changed its id in
        // this step had its old agent unregistered first, so nothing more was sent to the old one).
        var resultsByKey: [RequestKey: [Int]] = [:]
        for index in results {
            guard case .result(let result) = outbox[index].header,
                  let owner = core.agentID(on: outbox[index].peer) ?? before.agentID(on: outbox[index].peer) else { continue }
            resultsByKey[RequestKey(requester: owner, callbackID: result.callbackID), default: []].append(index)
        }
        var unmatched = Set(results)
        let insertsBefore = outcomeInserts
        for key in ended {
            let request = pendingBefore[key]!
            let matches = resultsByKey[key] ?? []
            require(matches.count <= 1, "request \(key.callbackID) of \(key.requester) ended with \(matches.count) RESULTs")
            if before.agents[key.requester]?.isAlive == true, core.agents[key.requester]?.isAlive == true {
                require(matches.count == 1, "request \(key.callbackID) of connected requester \(key.requester) ended without a RESULT")
            }
            var status: Status?
            if let index = matches.first, case .result(let result) = outbox[index].header {
                unmatched.remove(index)
                status = result.status
                require(result.attempts >= request.attempts, "RESULT attempts \(result.attempts) < \(request.attempts)")
                checkEndingStatus(result.status, key: key, request: request, before: before, input: input, now: now)
                if let cached = core.outcomes.lookup(key) {
                    require(cached.status == result.status && cached.fingerprint == request.fingerprint,
                            "the outcome cache holds \(cached.status) for \(key.callbackID), the RESULT said \(result.status)")
                }
            } else if let cached = core.outcomes.lookup(key) {
                status = cached.status
            }
            lastEnd[key] = (status, request.attempts, now, request.fingerprint, insertsBefore)
            if configuration.dedupeCapacity > 0 { outcomeInserts += 1 }
        }
        let outcomesDelta = zip(core.counters.outcomes, before.counters.outcomes).reduce(UInt64(0)) { $0 + ($1.0 - $1.1) }
        require(outcomesDelta == UInt64(ended.count + unmatched.count),
                "outcome counters grew by \(outcomesDelta), but \(ended.count) request(s) ended and \(unmatched.count) other RESULT(s) went out")
        return unmatched.sorted()
    }

    private func checkEndingStatus(_ status: Status, key: RequestKey, request: PendingRequest<FuzzPayload>,
                                   before: BrokerCore<FuzzPayload>, input: StepInput, now: UInt64) {
        switch status {
        case .ok, .declined, .failed:
            guard case .reply(let reply)? = input.header else {
                return require(false, "\(status) for \(key.callbackID) without a REPLY")
            }
            let servingPeer = request.servingAgent.flatMap { before.agents[$0]?.peer }
            require(reply.deliveryID == request.deliveryID && reply.status == status && servingPeer != nil && input.peer == servingPeer,
                    "\(status) for \(key.callbackID) from a REPLY that is not its serving agent's current delivery")
        case .cancelled:
            guard case .cancel(let id)? = input.header else { return require(false, "CANCELLED for \(key.callbackID) without a CANCEL") }
            require(id == key.callbackID, "CANCEL of \(id) ended \(key.callbackID)")
        case .timeout:
            require(now >= request.deadline, "TIMEOUT for \(key.callbackID) at \(now), before its deadline \(request.deadline)")
        default:
            break
        }
    }

    /// RESULTs that ended no request: refusals and cached outcomes, answering the step's own message.
    private func checkImmediateAnswers(_ indices: [Int], before: BrokerCore<FuzzPayload>, after core: BrokerCore<FuzzPayload>,
                                       _ pendingBefore: PendingTable, _ pendingAfter: PendingTable, input: StepInput,
                                       outbox: [Outbound<FuzzPayload>]) {
        for index in indices {
            guard case .result(let result) = outbox[index].header else { continue }
            let peer = outbox[index].peer
            require(input.peer == peer && input.callbackID == result.callbackID,
                    "RESULT \(result.status) for \(result.callbackID) to \(peer) that ends no request and answers no message of this step")
            guard let requester = before.agentID(on: peer) ?? core.agentID(on: peer) else {
                require(result.status == .unavailable || result.status == .badRequest,
                        "RESULT \(result.status) to an unregistered peer")
                continue
            }
            let key = RequestKey(requester: requester, callbackID: result.callbackID)
            require(pendingAfter[key] == nil && pendingBefore[key] == nil,
                    "RESULT \(result.status) sent for \(key.callbackID) of \(requester) while that request is pending: it will get a second one")
            if case .cancel? = input.header {
                guard let cached = before.outcomes.lookup(key) else {
                    return require(false, "CANCEL of unknown \(key.callbackID) answered with RESULT \(result.status), not ERROR")
                }
                require(cached.status == result.status, "CANCEL of finished \(key.callbackID) answered \(result.status), cached \(cached.status)")
            }
            if let cached = before.outcomes.lookup(key), isRequest(input.header), cached.fingerprint == input.bodyFingerprint {
                require(cached.status == result.status && cached.attempts == result.attempts,
                        "retry of \(key.callbackID) answered \(result.status)/\(result.attempts), cached \(cached.status)/\(cached.attempts)")
                if let end = lastEnd[key], let status = end.status {
                    require(status == cached.status, "the cache answers \(cached.status) for \(key.callbackID), which ended \(status)")
                }
            }
        }
    }

    private func isRequest(_ header: Header?) -> Bool {
        switch header {
        case .request?, .forward?: true
        default: false
        }
    }

    // MARK: - De-duplication

    private func checkDeduplication(before: BrokerCore<FuzzPayload>, after core: BrokerCore<FuzzPayload>,
                                    _ pendingBefore: PendingTable, _ pendingAfter: PendingTable, input: StepInput,
                                    now: UInt64, outbox: [Outbound<FuzzPayload>]) {
        guard isRequest(input.header), let peer = input.peer, let id = input.callbackID, let requester = before.agentID(on: peer),
              before.agents[requester]?.isAlive == true
        else { return }
        if case .request? = input.header, before.agents[requester]?.isGateway == true { return }  // refused: UNAUTHORIZED
        if case .forward? = input.header, before.agents[requester]?.isGateway != true { return }  // refused: UNAUTHORIZED
        let key = RequestKey(requester: requester, callbackID: id)
        if let pending = pendingBefore[key] {
            if pending.fingerprint == input.bodyFingerprint {
                require(outbox.isEmpty && pendingAfter[key] != nil,
                        "a retry of pending \(id) was answered with \(outbox.map(\.header)) instead of being absorbed")
            } else {
                require(outbox.count == 1 && outbox.first?.error?.status == .badRequest,
                        "reuse of pending \(id) with another payload answered with \(outbox.map(\.header)), not one ERROR")
            }
            return
        }
        // The guarantee below counts outcomes, not their bytes: checked only when the byte budget is out of reach.
        guard configuration.dedupeCapacity > 0, configuration.dedupeMaxBytes >= 1 << 20, let end = lastEnd[key] else { return }
        let half = UInt64(max(configuration.dedupeCapacity / 2, 1))
        guard now - end.time < configuration.dedupeWindowMilliseconds, outcomeInserts - end.inserts < half else { return }
        require(before.outcomes.lookup(key) != nil,
                "the outcome of \(id) (ended at \(end.time), \(outcomeInserts - end.inserts) outcome(s) stored since) was forgotten "
                    + "within the window \(configuration.dedupeWindowMilliseconds) ms and capacity \(configuration.dedupeCapacity)")
        if end.fingerprint == input.bodyFingerprint {
            require(pendingAfter[key] == nil, "a retry of finished \(id) was run again instead of answered from the cache")
            let answers = outbox.compactMap(\.result).filter { $0.callbackID == id }
            require(answers.count == 1 && (end.status == nil || answers[0].status == end.status),
                    "a retry of finished \(id) (\(end.status.map { "\($0)" } ?? "?")) was answered with \(answers.map(\.status))")
        } else {
            require(outbox.count == 1 && outbox.first?.error?.status == .badRequest,
                    "reuse of finished \(id) with another payload answered with \(outbox.map(\.header)), not one ERROR")
        }
    }

    // MARK: - Deliveries and tables

    private mutating func checkDeliveries(before: BrokerCore<FuzzPayload>, after core: BrokerCore<FuzzPayload>,
                                          outbox: [Outbound<FuzzPayload>]) {
        for message in outbox {
            guard case .deliver(let deliver) = message.header else { continue }
            require(issuedDeliveries.insert(deliver.deliveryID).inserted, "DELIVER reuses delivery id \(deliver.deliveryID)")
            require(deliver.timeoutMilliseconds > 0, "DELIVER with no time left")
            require(deliver.attempt >= 1, "DELIVER attempt 0")
            guard let slot = core.pending.slot(delivery: deliver.deliveryID) else { continue }  // ended (or moved) in the same step
            let request = core.pending[slot]
            let key = request.key
            require(key.callbackID == deliver.callbackID,
                    "delivery \(deliver.deliveryID) names \(deliver.callbackID), its slot \(slot) holds \(key.callbackID)")
            guard let handle = request.servingAgent, let agent = core.agents[handle] else {
                return require(false, "delivered request \(key.callbackID) has no serving agent")
            }
            let agentID = agent.id
            require(agent.peer == message.peer, "DELIVER to \(message.peer), but \(agentID) is on \(agent.peer)")
            require(!agent.isGateway, "a request was delivered to gateway \(agentID)")
            switch request.target {
            case .agent(let id):
                require(agentID == id, "request for agent:\(id) delivered to \(agentID)")
            case .capability(let name):
                require(agent.capabilities.contains(name), "request for cap:\(name) delivered to \(agentID), which does not offer it")
                require(request.caller != nil || agent.layer == request.requesterLayer,
                        "request for cap:\(name) from layer \(request.requesterLayer) delivered to \(agentID) in layer \(agent.layer)")
            case .layer(let layer, let capability):
                require(agent.layer == layer && (capability.map(agent.capabilities.contains) ?? true),
                        "request for layer:\(layer)/\(capability ?? "") delivered to \(agentID) (\(agent.layer), \(agent.capabilities))")
            }
        }
    }

    /// The delivery ids that were current before the step or were sent in it find their slot (`pending.slot(delivery:)`)
    /// exactly while they are their request's current delivery, and every delivered request is found so (what the
    /// old delivery table's size checked: no stale delivery answers a REPLY). Older ids were checked when they stopped
    /// being current, and no id is sent twice (`checkDeliveries`), so none can become current again.
    private func checkDeliveryIDs(_ pendingBefore: PendingTable, after core: BrokerCore<FuzzPayload>, outbox: [Outbound<FuzzPayload>]) {
        var ids = Set(pendingBefore.values.compactMap(\.deliveryID))
        for message in outbox {
            if case .deliver(let deliver) = message.header { ids.insert(deliver.deliveryID) }
        }
        var found = 0
        for id in ids {
            guard let slot = core.pending.slot(delivery: id) else { continue }
            require(core.pending.isOccupied(slot) && core.pending[slot].deliveryID == id && core.pending[slot].servingAgent != nil,
                    "delivery \(id) finds slot \(slot), whose request is not delivered under it")
            found += 1
        }
        let delivered = core.pending.occupied.count { core.pending[$0].deliveryID != nil }
        require(found == delivered, "\(found) delivery id(s) find their request, but \(delivered) request(s) are delivered")
    }

    private func checkTables(_ core: BrokerCore<FuzzPayload>) {
        var served: [AgentHandle: Set<Int32>] = [:]
        var byRequester: [String: RequesterLoad] = [:]
        var totalBytes = 0
        let occupied = core.pending.occupied
        let occupiedSlots = Set(occupied)
        require(occupied.count == core.pending.count, "the slab counts \(core.pending.count) requests in \(occupied.count) occupied slots")
        // The key index (de-duplication): one key per pending request, each naming the slot that holds the request with that key.
        require(core.pendingIndex.count == core.pending.count,
                "the key index holds \(core.pendingIndex.count) keys for \(core.pending.count) pending requests")
        for (tag, slot) in core.pendingIndex.all {
            require(occupiedSlots.contains(slot) && core.pendingIndex.hashTag(of: core.pending[slot].key) == tag
                    && core.pending[slot].keyTag == tag,
                    "the key index maps hash bits \(tag) to slot \(slot), which holds no request with them")
        }
        for slot in occupied {
            let request = core.pending[slot]
            let key = request.key
            require(core.pendingSlot(for: key) == slot,
                    "request \(key.callbackID) of \(key.requester) in slot \(slot) is found at \(String(describing: core.pendingSlot(for: key))) by its key")
            byRequester[request.caller ?? key.requester, default: RequesterLoad()].count += 1
            byRequester[request.caller ?? key.requester]!.bytes += request.payload?.byteCount ?? 0
            totalBytes += request.payload?.byteCount ?? 0
            require(request.deadline <= request.hardDeadline, "deadline past the hard maximum")
            if let requester = core.agents[request.requester] {
                require(requester.id == key.requester, "request \(key.callbackID) of \(key.requester) holds the handle of \(requester.id)")
            }
            require((request.deliveryID == nil) == (request.servingAgent == nil), "delivery id and serving agent disagree")
            if let deliveryID = request.deliveryID, let agent = request.servingAgent {
                served[agent, default: []].insert(slot)
                require(core.pending.slot(delivery: deliveryID) == slot,
                        "delivery \(deliveryID) of \(key.callbackID) does not find its slot \(slot)")
                require(core.agents[agent]?.isAlive == true, "request \(key.callbackID) is served by \(name(agent, in: core)), which is not alive")
            } else {
                require(request.previousServed == -1 && request.nextServed == -1,
                        "request \(key.callbackID), served by nobody, is linked into a served list")
            }
        }
        require(core.pendingByRequester == byRequester, "pending per requester \(core.pendingByRequester) ≠ \(byRequester)")
        let agents = core.agents.all
        require(agents.count == core.agents.count, "the agent table counts \(core.agents.count) agents and holds \(agents.count)")
        require(core.awayAgents.count == agents.count { !$0.record.isAlive }, "away count \(core.awayAgents.count) is off")
        require(core.awayAgents.count <= configuration.maxAwayAgents, "\(core.awayAgents.count) away agents > maxAwayAgents")
        require(core.awayAgents.storedEntries <= 2 * max(core.awayAgents.count, 16) + 1, "the away queue holds \(core.awayAgents.storedEntries) entries")
        for (handle, record) in agents {
            let id = record.id
            require(core.agents.handle(of: id) == handle && core.agents[id]?.id == id && core.agents[handle]?.id == id,
                    "agent record \(id) filed under \(String(describing: core.agents.handle(of: id))), not \(handle)")
            // Its served list holds exactly the requests whose serving agent it is, once each, as many as it counts in flight.
            let list = servedList(of: handle, record, in: core, occupied: occupiedSlots)
            let serves = served[handle, default: []]
            require(list.count == serves.count && Set(list) == serves,
                    "\(id)'s served list holds slots \(list), it serves \(serves.sorted())")
            require(record.inFlight == serves.count, "\(id) counts \(record.inFlight) in flight, serves \(serves.count)")
            let servedBytes = serves.reduce(0) { $0 + (core.pending[$1].payload?.byteCount ?? 0) }
            require(record.inFlightBytes == servedBytes, "\(id) counts \(record.inFlightBytes) bytes in flight, serves \(servedBytes)")
            require(core.served(by: handle) == list, "served(by:) of \(id) is \(core.served(by: handle)), its list \(list)")
            if record.isAlive {
                require(core.agents.byPeer[record.peer] == handle && core.agents.handle(of: record.peer) == handle,
                        "live agent \(id) is not found by its peer")
            }
            for capability in record.capabilities where record.isAlive {
                require(core.capabilityIndex[capability]?.agents.contains(handle) == true, "live \(id) missing from the \(capability) pool")
            }
        }
        for (peer, handle) in core.agents.byPeer {
            require(core.agents[handle]?.peer == peer && core.agents[handle]?.isAlive == true,
                    "peer \(peer) maps to \(name(handle, in: core)), which is not live there")
        }
        for (capability, pool) in core.capabilityIndex {
            require(!pool.agents.isEmpty, "empty pool for \(capability) kept")
            require(Set(pool.agents).count == pool.agents.count, "pool \(capability) lists an agent twice: \(pool.agents.map { name($0, in: core) })")
            for handle in pool.agents {
                require(core.agents[handle]?.capabilities.contains(capability) == true,
                        "pool \(capability) lists \(name(handle, in: core)), which does not offer it")
            }
        }
        require(core.pending.count <= configuration.maxPending, "\(core.pending.count) pending > maxPending")
        for (handle, record) in core.agents.all {
            require(record.inFlight <= configuration.maxDeliveriesPerAgent,
                    "\(name(handle, in: core)) serves \(record.inFlight), over maxDeliveriesPerAgent \(configuration.maxDeliveriesPerAgent)")
            require(record.inFlightBytes < configuration.maxDeliveryBytesPerAgent + configuration.maxBodyBytes,
                    "\(name(handle, in: core)) serves \(record.inFlightBytes) bytes, over maxDeliveryBytesPerAgent and one body")
        }
        // Every request no agent serves is parked, once, and nothing else is; ended entries linger in the lists, but
        // never more of them than live ones (+1 per list): they stay proportional to the requests actually waiting.
        let unserved = Set(occupied.filter { core.pending[$0].servingAgent == nil })
        require(Set(core.waiting.all) == unserved && core.waiting.count == unserved.count,
                "the waiting lists park \(core.waiting.count) requests, \(unserved.count) are unserved")
        require(core.waiting.storedEntries <= 2 * core.waiting.count + core.waiting.listCount,
                "the waiting lists hold \(core.waiting.storedEntries) entries for \(core.waiting.count) waiting")
        // Work-conserving: nothing waits while a live agent that may serve it has room.
        let roomy = core.agents.all.filter { $0.record.isAlive && !$0.record.isGateway && core.hasRoom($0.handle) }
        for slot in unserved {
            let request = core.pending[slot]
            for (handle, record) in roomy where mayServe(record, request) {
                require(false, "request \(request.key) waits while \(name(handle, in: core)) may serve it and serves \(record.inFlight)")
            }
        }
        require(byRequester.values.allSatisfy { $0.count <= configuration.maxPendingPerRequester && $0.bytes <= configuration.maxPendingBytesPerRequester },
                "a requester is over maxPendingPerRequester or maxPendingBytesPerRequester")
        require(core.pendingBytes == totalBytes && totalBytes <= configuration.maxPendingBytes,
                "pending bytes \(core.pendingBytes), counted \(totalBytes), limit \(configuration.maxPendingBytes)")
        // The outcome ring: the configured bounds, and within them by count and by bytes.
        require(core.outcomes.capacity == configuration.dedupeCapacity && core.outcomes.byteBudget == configuration.dedupeMaxBytes
                    && core.outcomes.window == configuration.dedupeWindowMilliseconds,
                "the outcome ring is bounded by \(core.outcomes.capacity) / \(core.outcomes.byteBudget) bytes / \(core.outcomes.window) ms")
        require(core.outcomes.count >= 0 && core.outcomes.count <= configuration.dedupeCapacity,
                "outcome ring holds \(core.outcomes.count) > capacity \(configuration.dedupeCapacity)")
        require(core.outcomes.bytes >= 0 && core.outcomes.bytes <= configuration.dedupeMaxBytes && (core.outcomes.count > 0 || core.outcomes.bytes == 0),
                "outcome ring holds \(core.outcomes.bytes) bytes in \(core.outcomes.count) outcomes, budget \(configuration.dedupeMaxBytes)")
        require(core.confirmedEvents.count <= 2 * max(configuration.eventDedupeCapacity / 2, 1), "event dedupe cache over its bound")
        require(core.topics.count <= configuration.maxTopics, "\(core.topics.count) topics > maxTopics")
    }

    /// The agent's served list, walked from its record with every back link checked; a list longer than the slab
    /// (a cycle) or reaching a free slot is reported instead of followed.
    private func servedList(of handle: AgentHandle, _ record: AgentRecord, in core: BrokerCore<FuzzPayload>,
                            occupied: Set<Int32>) -> [Int32] {
        var slots: [Int32] = []
        var previous: Int32 = -1
        var slot = record.firstServed
        while slot >= 0 {
            require(occupied.contains(slot), "\(record.id)'s served list reaches slot \(slot), which holds no request")
            require(slots.count < occupied.count, "\(record.id)'s served list \(slots.prefix(8))… is longer than the slab: a cycle")
            let request = core.pending[slot]
            require(request.previousServed == previous,
                    "slot \(slot) in \(record.id)'s served list links back to \(request.previousServed), not \(previous)")
            require(request.servingAgent == handle,
                    "slot \(slot) in \(record.id)'s served list is served by \(request.servingAgent.map { name($0, in: core) } ?? "nobody")")
            slots.append(slot)
            previous = slot
            slot = request.nextServed
        }
        require(slot == -1, "\(record.id)'s served list ends with link \(slot)")
        return slots
    }

    /// An agent handle's id for a message (or what is wrong with the handle).
    private func name(_ handle: AgentHandle, in core: BrokerCore<FuzzPayload>) -> String {
        core.agents[handle]?.id ?? "stale handle \(handle.slot)/\(handle.generation)"
    }

    mutating func checkSnapshot(_ core: BrokerCore<FuzzPayload>) {
        let snapshot = core.snapshot()
        require(snapshot.pending == core.pending.count, "snapshot pending \(snapshot.pending) ≠ \(core.pending.count)")
        require(snapshot.pending == Int(snapshot.accepted) - totalEnded, "snapshot pending ≠ accepted − ended")
        let requests = core.pendingByKey.values
        require(snapshot.waiting == requests.filter { $0.servingAgent == nil }.count, "snapshot waiting is off")
        require(snapshot.agents.map(\.inFlight).reduce(0, +) == requests.filter { $0.servingAgent != nil }.count,
                "snapshot in-flight sum ≠ delivered requests")
        require(snapshot.agents.allSatisfy { $0.inFlight >= 0 }, "negative in-flight count")
        require(snapshot.outcomes.values.reduce(0, +) == core.counters.outcomes.reduce(0, +), "snapshot outcomes ≠ counters")
        require(snapshot.topics == core.topics.count, "snapshot topics ≠ topic count")
    }

    // MARK: - Events

    private mutating func checkEvents(before: BrokerCore<FuzzPayload>, after core: BrokerCore<FuzzPayload>, input: StepInput,
                                      outbox: [Outbound<FuzzPayload>], publications: [Publication<FuzzPayload>]) {
        var published: [CallbackID: EventHeader] = [:]
        for publication in publications {
            switch publication.header {
            case .event(let event):
                // A topic opened anew starts after its agent's floor (above the sequences of its forgotten topics).
                let opened = before.topics[event.topic] == nil
                let expected = opened ? before.topics.floor(of: event.topic.agent) + 1 : topicLatest[event.topic, default: 0] + 1
                require(event.sequence == expected, "EVENT \(event.topic) #\(event.sequence), expected #\(expected)")
                require(event.sequence > topicLatest[event.topic, default: 0], "EVENT \(event.topic) #\(event.sequence) reuses a sequence")
                require(publication.topicFrame == event.topic.frame, "EVENT published under the wrong topic frame")
                topicLatest[event.topic] = event.sequence
                publishedEvents[event.topic, default: [:]][event.sequence] = event
                published[event.eventID] = event
            case .beacon(let beacon):
                require(beacon.latest == topicLatest[beacon.topic, default: 0] && beacon.latest > 0,
                        "BEACON \(beacon.topic) latest \(beacon.latest), published \(topicLatest[beacon.topic, default: 0])")
            default:
                require(false, "\(publication.header) published on the events socket")
            }
        }
        require(core.counters.eventsPublished - before.counters.eventsPublished == UInt64(published.count),
                "eventsPublished grew by \(core.counters.eventsPublished - before.counters.eventsPublished) for \(published.count) EVENTs")
        for (topic, log) in before.topics.logs where core.topics[topic] == nil {
            // A tick sends the last BEACON, then forgets: one left before it is fine.
            require(log.beaconsLeft <= 1 && core.topics.floor(of: topic.agent) >= log.latest,
                    "\(topic) forgotten at #\(log.latest) with BEACONs left or above its agent's floor")
            require(before.topics.count(of: topic.agent) >= configuration.maxTopicsPerAgent || before.topics.count >= configuration.maxTopics,
                    "\(topic) forgotten while its agent was under its topic quota")
        }
        var retainedEvents = 0, retainedBytes = 0
        for (topic, log) in core.topics.logs {
            require(log.latest == topicLatest[topic, default: 0], "topic \(topic) latest \(log.latest) ≠ published \(topicLatest[topic, default: 0])")
            require(log.events(in: 1...max(log.latest, 1)).count <= configuration.retentionCount, "topic \(topic) retains too many events")
            require(log.retainedEvents.allSatisfy { $0.payload != nil || $0.size == 0 }, "topic \(topic) retains an event without its payload")
            retainedEvents += log.retainedCount
            retainedBytes += log.retainedBytes
        }
        require(core.topics.events == retainedEvents && core.topics.bytes == retainedBytes,
                "retention totals \(core.topics.events) events / \(core.topics.bytes) bytes ≠ the topics' \(retainedEvents) / \(retainedBytes)")
        require(core.topics.footprint <= configuration.retentionTotalBytes,
                "retention footprint \(core.topics.footprint) over the budget \(configuration.retentionTotalBytes)")

        // A CONFIRM, or (for a publisher that asked for batches) a CONFIRMS: of one event, since a step is one turn.
        let confirmsOut = outbox.flatMap { message -> [(confirm: Confirm, peer: PeerID)] in
            switch message.header {
            case .confirm(let confirm): [(confirm, message.peer)]
            case .confirms(let batch): batch.confirms.map { ($0, message.peer) }
            default: []
            }
        }
        guard case .publish(let publish)? = input.header, let peer = input.peer else {
            require(confirmsOut.isEmpty && published.isEmpty, "CONFIRM or EVENT without a PUBLISH")
            return
        }
        require(published.count <= 1 && confirmsOut.count <= 1, "one PUBLISH made \(published.count) EVENTs, \(confirmsOut.count) CONFIRMs")
        guard let publisher = before.agentID(on: peer) else { return }
        let key = EventKey(publisher: publisher, eventID: publish.eventID)
        if let first = confirms[key], confirmInserts - first.inserts - 1 < UInt64(max(configuration.eventDedupeCapacity / 2, 1)) {
            // A resend within the guarantee (fewer than capacity/2 newer events confirmed since): confirmed again, not published.
            require(published.isEmpty, "resend of confirmed event \(publish.eventID) was published again")
            require(before.confirmedEvents.lookup(RequestKey(requester: publisher, callbackID: publish.eventID)) != nil, "confirmed event \(publish.eventID) forgotten within the guarantee")
        }
        if let event = published[publish.eventID] {
            guard let confirm = confirmsOut.first?.confirm else { return require(false, "EVENT published without a CONFIRM") }
            require(confirm.sequence == event.sequence && confirm.timestamp == event.timestamp && confirmsOut.first?.peer == peer,
                    "CONFIRM \(confirm) does not name EVENT #\(event.sequence)")
            require(event.topic == publish.topic && publish.topic.agent == publisher,
                    "EVENT on \(event.topic) for a PUBLISH on \(publish.topic) by \(publisher)")
            confirms[key] = (confirm, confirmInserts)
            confirmInserts += 1
        } else if let confirm = confirmsOut.first?.confirm {
            require(confirms[key]?.confirm == confirm,
                    "resend of \(publish.eventID) confirmed as \(confirm), first confirmed as \(String(describing: confirms[key]?.confirm))")
        }
    }

    /// With journaling, each step hands exactly its new EVENTs to the journal, in order; without, nothing.
    func checkJournal(_ journal: [(header: EventHeader, body: FuzzPayload?)], publications: [Publication<FuzzPayload>]) {
        let events = publications.compactMap { publication -> EventHeader? in
            if case .event(let event) = publication.header { event } else { nil }
        }
        if configuration.journaling {
            require(journal.map(\.header) == events, "journal got \(journal.count) record(s) for \(events.count) EVENT(s)")
            for (entry, publication) in zip(journal, publications.filter { if case .event = $0.header { true } else { false } }) {
                require(entry.body?.bytes == publication.body?.bytes, "journal body differs from the published one")
            }
        } else {
            require(journal.isEmpty, "journal records without journaling")
        }
    }

    /// After a restart: requests start afresh; with journaling, every topic continues at its latest sequence and
    /// retains a contiguous run of the events first published, ending at the latest; without, events start over.
    mutating func restarted(old: BrokerCore<FuzzPayload>, new core: BrokerCore<FuzzPayload>, journal: [JournalRecord]) {
        stepNumber += 1
        label = "restart"
        totalEnded = 0
        lastEnd = [:]
        confirms = [:]
        issuedDeliveries = []
        require(core.pending.count == 0 && core.pendingIndex.count == 0 && core.agents.count == 0 && core.outcomes.count == 0
                    && core.counters.accepted == 0, "a new core is not empty")
        guard configuration.journaling else {
            require(core.topics.count == 0, "topics restored without journaling")
            topicLatest = [:]
            publishedEvents = [:]
            return
        }
        for (agent, floor) in old.topicFloors {
            require(core.topics.floor(of: agent) == floor, "after a restart \(agent)'s topic floor is \(core.topics.floor(of: agent)), not \(floor)")
        }
        for (topic, log) in old.topics.logs where log.latest > 0 {
            require(core.topics[topic]?.latest == log.latest,
                    "after a restart \(topic) continues at \(core.topics[topic]?.latest ?? 0), not at \(log.latest): sequences would be reused")
        }
        for (topic, log) in core.topics.logs {
            require(log.latest == topicLatest[topic, default: 0], "restored \(topic) latest \(log.latest) was never published")
            let retained = log.events(in: 1...max(log.latest, 1)).map(\.header)
            for (index, header) in retained.enumerated() {
                require(header == publishedEvents[topic]?[header.sequence], "restored \(topic) #\(header.sequence) differs from the published event")
                if index > 0 { require(header.sequence == retained[index - 1].sequence + 1, "restored retention of \(topic) has a hole") }
            }
            if let last = retained.last { require(last.sequence == log.latest, "restored retention of \(topic) does not end at the latest") }
            require(retained.count <= configuration.retentionCount, "restored \(topic) retains too many events")
        }
        // `restore` stores every journal event's id for publisher de-duplication, in journal order.
        for record in journal {
            guard case .event(let header, _) = record else { continue }
            confirms[EventKey(publisher: header.topic.agent, eventID: header.eventID)] =
                (Confirm(eventID: header.eventID, sequence: header.sequence, timestamp: header.timestamp), confirmInserts)
            confirmInserts += 1
        }
    }

    private func checkReplay(_ replay: Replay, before: BrokerCore<FuzzPayload>, after core: BrokerCore<FuzzPayload>, peer: PeerID,
                             outbox: [Outbound<FuzzPayload>]) {
        require(outbox.allSatisfy { $0.peer == peer }, "REPLAY answered to another peer")
        if outbox.count == 1, let error = outbox[0].error {
            guard case .topic(let topic) = replay.selector else { return require(false, "REPLAY of all topics refused: \(error)") }
            let latest = before.topics[topic]?.latest ?? before.topics.floor(of: topic.agent)
            return require(replay.from > latest + 1, "REPLAY of \(topic) from \(replay.from) refused, latest is \(latest)")
        }
        guard case .replayEnd(let end)? = outbox.last?.header else { return require(false, "REPLAY answer does not end with REPLAY_END") }
        require(end.selector == replay.selector, "REPLAY_END names another selector")
        var events: [Topic: [UInt64]] = [:]
        var gaps: [Topic: Gap] = [:]
        var order: [Topic] = []
        for message in outbox.dropLast() {
            switch message.header {
            case .event(let event):
                require(replay.selector.matches(event.topic), "REPLAY of \(replay.selector) sent an event of \(event.topic)")
                if events[event.topic] == nil && gaps[event.topic] == nil { order.append(event.topic) }
                events[event.topic, default: []].append(event.sequence)
            case .gap(let gap):
                require(gaps[gap.topic] == nil && events[gap.topic] == nil, "GAP for \(gap.topic) after its events or twice")
                order.append(gap.topic)
                gaps[gap.topic] = gap
            default:
                require(false, "REPLAY answer holds \(message.header)")
            }
        }
        let total = events.values.map(\.count).reduce(0, +)
        require(Int(end.events) == total, "REPLAY_END counts \(end.events) events, \(total) were sent")
        // Bytes as the batch limit counts them (payload + 256 per event); all events but the last fit under the limit.
        let eventBytes: [Int] = outbox.dropLast().compactMap { message in
            guard case .event = message.header else { return nil }
            if case .payload(let payload) = message.body { return payload.byteCount + 256 }
            return 256
        }
        let bytes = eventBytes.reduce(0, +)
        let full = total == configuration.maxReplayBatch || bytes >= configuration.maxReplayBatchBytes
        require(total <= configuration.maxReplayBatch && bytes - (eventBytes.last ?? 0) < configuration.maxReplayBatchBytes
                && (!end.truncated || full),
                "REPLAY sent \(total) events of \(bytes) bytes, truncated \(end.truncated), batch \(configuration.maxReplayBatch) events, \(configuration.maxReplayBatchBytes) bytes")
        require(core.counters.eventsReplayed - before.counters.eventsReplayed == UInt64(total), "eventsReplayed is off")
        require(core.counters.gapsReported - before.counters.gapsReported == UInt64(gaps.count), "gapsReported is off")
        let covered = before.topics.logs.keys.filter { replay.selector.matches($0) }
        for topic in covered {
            let latest = before.topics[topic]!.latest
            let last = replay.to == 0 ? latest : min(replay.to, latest)
            let sequences = events[topic] ?? []
            for (index, sequence) in sequences.enumerated() {
                require(sequence >= replay.from && sequence <= last, "REPLAY sent \(topic) #\(sequence) outside \(replay.from)…\(last)")
                if index > 0 { require(sequence == sequences[index - 1] + 1, "REPLAY of \(topic) skipped from #\(sequences[index - 1]) to #\(sequence)") }
            }
            if let gap = gaps[topic] {
                require(gap.from == replay.from && gap.from <= gap.to && gap.to <= last, "GAP \(gap.from)…\(gap.to) for a replay from \(replay.from) to \(last)")
                if let first = sequences.first { require(first == gap.to + 1, "GAP ends at \(gap.to) but events resume at #\(first)") }
            }
            guard !end.truncated, replay.from <= last else { continue }
            let reached = sequences.last ?? gaps[topic]?.to ?? 0
            let start = gaps[topic]?.from ?? sequences.first ?? 0
            require(start == replay.from && reached == last,
                    "REPLAY of \(topic) \(replay.from)…\(last) covered \(start)…\(reached) (gap \(String(describing: gaps[topic])), \(sequences.count) events)")
        }
        if case .agent = replay.selector {
            let sorted = order.sorted { $0.event < $1.event }
            require(order == sorted, "REPLAY of all topics not in topic order: \(order)")
        }
    }
}

/// The pending requests by key: the slab seen as the table it replaced, for the checks that compare a step's
/// before and after states (that no two slots hold one key is checked in `check`).
typealias PendingTable = [RequestKey: PendingRequest<FuzzPayload>]

extension BrokerCore where Payload == FuzzPayload {
    /// The pending requests of the slab by key.
    var pendingByKey: PendingTable {
        var table = PendingTable(minimumCapacity: pending.count)
        for slot in pending.occupied { table[pending[slot].key] = pending[slot] }
        return table
    }

    /// The id of the live agent speaking on `peer` (what `agentByPeer[peer]` was).
    func agentID(on peer: PeerID) -> String? {
        agents.handle(of: peer).flatMap { agents[$0]?.id }
    }
}

private struct PeerAndID: Hashable {
    let peer: PeerID
    let id: CallbackID
}

extension Outbound where Payload == FuzzPayload {
    var error: ErrorNotice? { if case .error(let value) = header { value } else { nil } }
    var result: ResultHeader? { if case .result(let value) = header { value } else { nil } }
}

/// The key under which the broker remembers a published event: its publisher and event id.
private struct EventKey: Hashable {
    let publisher: String
    let eventID: CallbackID
}

/// Whether `agent` may be given `request` (the routing rules of docs/PROTOCOL.md §6.5, written out again).
private func mayServe(_ agent: AgentRecord, _ request: PendingRequest<FuzzPayload>) -> Bool {
    switch request.target {
    case .agent(let id): agent.id == id
    case .capability(let name): agent.capabilities.contains(name) && (request.caller != nil || agent.layer == request.requesterLayer)
    case .layer(let layer, let capability): agent.layer == layer && (capability.map(agent.capabilities.contains) ?? true)
    }
}
