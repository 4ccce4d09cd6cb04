import ParleyWire

/// Requests: acceptance, de-duplication, routing, delivery, progress, replies, cancellation and outcomes.
extension BrokerCore {
    /// REQUEST (or a gateway's FORWARD, with the caller it speaks for): de-duplicate, check limits and
    /// route, then deliver or wait for a capable agent.
    mutating func accept(_ request: Request, body: Payload?, from requester: AgentHandle, forwardedFor caller: (id: String, layer: String)? = nil,
                         now: UInt64) {
        let key = RequestKey(requester: agents[current: requester].id, callbackID: request.callbackID)
        let fingerprint = body?.fingerprint ?? emptyPayloadFingerprint
        let keyTag = pendingIndex.hashTag(of: key)
        if let slot = pendingSlot(for: key, tag: keyTag) {
            guard pending[slot].fingerprint == fingerprint else { return refuseReuse(key) }
            counters.dedupeHits += 1
            return
        }
        if let cached = outcomes.lookup(key) {
            guard cached.fingerprint == fingerprint else { return refuseReuse(key) }
            counters.dedupeHits += 1
            return sendResult(key, requester: requester, status: cached.status, attempts: cached.attempts, body: cached.body)
        }
        let requesterLayer = caller?.layer ?? agents[current: requester].layer
        let size = body?.byteCount ?? 0
        let owner = caller?.id ?? key.requester
        // One lookup of the owner's load for the check and the count (nothing changes the table in between).
        let loadIndex = pendingByRequester.index(forKey: owner)
        if let (status, reason) = refusal(of: request, size: size, requester: owner,
                                          load: loadIndex.map { pendingByRequester.values[$0] } ?? RequesterLoad(),
                                          layer: requesterLayer, forwarded: caller != nil) {
            return sendResult(key, requester: requester, status: status, attempts: 0, body: .text(reason))
        }
        let timeout = min(UInt64(request.timeoutMilliseconds), configuration.maxDeadlineMilliseconds)
        let ticket = pending.insert(PendingRequest(key: key, keyTag: keyTag, requester: requester, kind: request.kind, target: request.target,
                                                   contentType: request.contentType, requesterLayer: requesterLayer,
                                                   caller: caller?.id, payload: body, fingerprint: fingerprint,
                                                   deadline: now + timeout, hardDeadline: now + configuration.maxDeadlineMilliseconds))
        pendingIndex.insert(ticket.slot, tag: keyTag)
        if let loadIndex {
            pendingByRequester.values[loadIndex].add(bytes: size)
        } else {
            pendingByRequester[owner, default: RequesterLoad()].add(bytes: size)
        }
        pendingBytes += size
        counters.accepted += 1
        deadlines.insert(Due(now + timeout, ticket))
        dispatch(ticket.slot, now: now)
    }

    /// REPLY: the serving agent's answer ends the request. A reply for a delivery that is no longer
    /// current (timed out, cancelled, moved to another agent) is dropped and counted.
    mutating func answer(_ reply: Reply, body: Payload?, from agent: AgentHandle) {
        guard let slot = pending.slot(delivery: reply.deliveryID), pending[slot].servingAgent == agent else {
            counters.lateReplies += 1
            return
        }
        finish(slot, status: reply.status, body: body.map { .payload($0) } ?? .none)
    }

    /// PROGRESS: extends the deadline (never past the hard maximum) and tells the requester.
    mutating func extend(_ progress: ProgressReport, note: Payload?, from agent: AgentHandle, now: UInt64) {
        guard let slot = pending.slot(delivery: progress.deliveryID), pending[slot].servingAgent == agent,
              pending[slot].deadline > now
        else { return }
        let wanted = min(now + UInt64(progress.extendMilliseconds), pending[slot].hardDeadline)
        if progress.extendMilliseconds > 0, wanted > pending[slot].deadline {
            pending[slot].deadline = wanted
            deadlines.insert(Due(wanted, pending.ticket(slot)))
        }
        let request = pending[slot]
        guard let peer = livePeer(of: request.requester, id: request.key.requester) else { return }
        send(peer, .extended(Extended(callbackID: request.key.callbackID, timeoutMilliseconds: UInt32(clamping: request.deadline - now))),
             note.map { .payload($0) } ?? .none)
    }

    /// CANCEL: ends a pending request with CANCELLED and revokes its delivery; a finished one gets its outcome again.
    mutating func cancel(_ callbackID: CallbackID, from requester: AgentHandle) {
        let key = RequestKey(requester: agents[current: requester].id, callbackID: callbackID)
        if let slot = pendingSlot(for: key) {
            return finish(slot, status: .cancelled, body: .text("cancelled by the requester"))
        }
        if let cached = outcomes.lookup(key) {
            return sendResult(key, requester: requester, status: cached.status, attempts: cached.attempts, body: cached.body)
        }
        refuse(status: .badRequest, command: CommandCode.cancel.rawValue, callbackID: callbackID, peer: agents[current: requester].peer,
               reason: "no request with callback id \(callbackID) to cancel")
    }

    /// Delivers the request to a capable live agent, or parks it until one registers or has room.
    mutating func dispatch(_ slot: Int32, now: UInt64) {
        guard pending[slot].servingAgent == nil else { return }
        guard pending[slot].deadline > now else {
            return finish(slot, status: .timeout, body: .text("no agent was available before the deadline"))
        }
        let inLayer = pending[slot].caller == nil ? pending[slot].requesterLayer : nil
        guard let agent = chooseAgent(for: pending[slot].target, sameLayer: inLayer), hasRoom(agent) else {
            let request = pending[slot]
            let layer = if case .capability = request.target, request.caller == nil { request.requesterLayer } else { String?.none }
            return waiting.park(slot, waitingFor: .init(request.target, capabilityLayer: layer), requester: request.budgetOwner)
        }
        deliver(slot, to: agent, now: now)
    }

    /// Delivers the request in `slot` to `agent`.
    private mutating func deliver(_ slot: Int32, to agent: AgentHandle, now: UInt64) {
        let deliveryID = pending.nextDeliveryID(for: slot)
        let attempts = pending[slot].attempts == .max ? .max : pending[slot].attempts + 1
        pending[slot].attempts = attempts
        pending[slot].deliveryID = deliveryID
        pending[slot].servingAgent = agent
        link(slot, servedBy: agent)
        counters.deliveries += 1
        if attempts > 1 { counters.redeliveries += 1 }
        let timeout = UInt32(clamping: pending[slot].deadline - now)
        let (callbackID, kind, requester) = (pending[slot].key.callbackID, pending[slot].kind, pending[slot].budgetOwner)
        let (requesterLayer, contentType) = (pending[slot].requesterLayer, pending[slot].contentType)
        outbox.append(to: agents[current: agent].peer, body: pending[slot].payload.map { .payload($0) } ?? .none) { bytes in
            HeaderEncoder.encodeDeliver(deliveryID: deliveryID, callbackID: callbackID, kind: kind, attempt: attempts,
                                        timeoutMilliseconds: timeout, requester: requester, requesterLayer: requesterLayer,
                                        contentType: contentType, into: &bytes)
        }
    }

    /// Delivers parked requests `agent` may serve (those for its id, its layer and its capabilities) while it has
    /// room: one per reason in turn, each reason's requesters in turn.
    mutating func serveWaiting(_ agent: AgentHandle, now: UInt64) {
        guard !waiting.isEmpty, agents.isAlive(agent), !agents[current: agent].isGateway else { return }
        let record = agents[current: agent]
        let reasons = WaitingRequests<Int32>.Reason.servedBy(id: record.id, layer: record.layer, capabilities: record.capabilities)
        var index = 0
        var emptyInARow = 0
        while emptyInARow < reasons.count, hasRoom(agent) {
            if let slot = waiting.takeNext(reasons[index]) {
                emptyInARow = 0
                if pending[slot].deadline > now {
                    deliver(slot, to: agent, now: now)
                } else {
                    finish(slot, status: .timeout, body: .text("no agent was available before the deadline"))
                }
            } else {
                emptyInARow += 1
            }
            index = (index + 1) % reasons.count
        }
    }

    /// Takes a request back from its serving agent (which went away or left).
    mutating func unassign(_ slot: Int32) {
        guard let agent = pending[slot].servingAgent else { return }
        unlink(slot, servedBy: agent)
        pending[slot].servingAgent = nil
        pending[slot].deliveryID = nil
    }

    /// Ends a request: the one outcome goes to the requester and into the cache for retries.
    mutating func finish(_ slot: Int32, status: Status, body: Outbound<Payload>.Body) {
        if let agent = pending[slot].servingAgent {
            unlink(slot, servedBy: agent)
        } else {
            waiting.remove(slot)
        }
        guard let request = pending.remove(slot) else { return }
        pendingIndex.remove(tag: request.keyTag, value: slot)
        if let agent = request.servingAgent, !status.isHandlerStatus, agents.isAlive(agent), let deliveryID = request.deliveryID {
            send(agents[current: agent].peer, .revoke(deliveryID: deliveryID))
        }
        let size = request.payload?.byteCount ?? 0
        pendingBytes -= size
        if pendingByRequester[request.budgetOwner]?.remove(bytes: size) == true { pendingByRequester[request.budgetOwner] = nil }
        if outcomes.capacity > 0 {
            let bytes: Int
            switch body {
            case .none: bytes = 0
            case .payload(let payload): bytes = payload.byteCount
            case .text(let text): bytes = text.utf8.count
            }
            outcomes.insert(request.key, CachedOutcome(status: status, attempts: request.attempts, body: body,
                                                       fingerprint: request.fingerprint), now: latestNow, bytes: bytes)
        }
        sendResult(request.key, requester: request.requester, status: status, attempts: request.attempts, body: body)
        // The agent that served it has room for one more.
        if let agent = request.servingAgent, !waiting.isEmpty { serveWaiting(agent, now: latestNow) }
    }

    private mutating func sendResult(_ key: RequestKey, requester: AgentHandle, status: Status, attempts: UInt8,
                                     body: Outbound<Payload>.Body) {
        counters.outcomes[Int(status.rawValue)] += 1
        guard let peer = livePeer(of: requester, id: key.requester) else { return }
        let callbackID = key.callbackID
        outbox.append(to: peer, body: body) { HeaderEncoder.encodeResult(callbackID: callbackID, status: status, attempts: attempts, into: &$0) }
    }

    private mutating func refuseReuse(_ key: RequestKey) {
        guard let handle = agents.handle(of: key.requester), let peer = livePeer(of: handle, id: key.requester) else { return }
        refuse(status: .badRequest, command: CommandCode.request.rawValue, callbackID: key.callbackID, peer: peer,
               reason: "callback id \(key.callbackID) was already used with a different payload")
    }

    /// Why the request cannot be routed at all, or nil when it can (now or once an agent comes back).
    /// Forwarded requests (the gateway checked the policy) skip the same-layer rule and may name layers.
    /// Why a request of `size` payload bytes from `requester` (a forwarded call's original caller) is refused, or nil.
    private func refusal(of request: Request, size: Int, requester: String, load: RequesterLoad, layer: String,
                         forwarded: Bool) -> (Status, String)? {
        if draining {
            return (.unavailable, "the broker is shutting down; retry with another broker or later")
        }
        if load.count >= configuration.maxPendingPerRequester {
            return (.overloaded, "agent '\(requester)' already has \(configuration.maxPendingPerRequester) pending requests")
        }
        if load.bytes + size > configuration.maxPendingBytesPerRequester {
            return (.overloaded, "agent '\(requester)' already has \(load.bytes) bytes pending; its limit is \(configuration.maxPendingBytesPerRequester)")
        }
        if pending.count >= configuration.maxPending {
            return (.overloaded, "the broker holds its maximum of \(configuration.maxPending) pending requests")
        }
        if pendingBytes + size > configuration.maxPendingBytes {
            return (.overloaded, "the broker holds its maximum of \(configuration.maxPendingBytes) bytes of pending requests")
        }
        guard let problem = routeProblem(request.target, layer: layer, forwarded: forwarded) else { return nil }
        // Just after start-up agents are still re-registering: a target nobody offers yet waits (see tick).
        if problem.0 == .noRoute, let ends = routeGraceEnds, latestNow < ends { return nil }
        return problem
    }

    /// Why `target` cannot be reached from `layer` now (NO_ROUTE, UNAUTHORIZED), or nil.
    func routeProblem(_ target: Target, layer: String, forwarded: Bool) -> (Status, String)? {
        switch target {
        case .agent(let id):
            guard let target = agents[id], !target.isGateway else { return (.noRoute, "no agent '\(id)' is registered") }
            guard forwarded || target.layer == layer else {
                return (.unauthorized, "agent '\(id)' is in layer '\(target.layer)', not '\(layer)': cross-layer calls go through the gateway")
            }
        case .capability(let name):
            guard let pool = capabilityIndex[name], !pool.agents.isEmpty else {
                return (.noRoute, "no agent offers capability '\(name)'")
            }
            guard forwarded || pool.agents.contains(where: { agents[current: $0].layer == layer }) else {
                return (.unauthorized, "capability '\(name)' is offered only outside layer '\(layer)': cross-layer calls go through the gateway")
            }
        case .layer(let name, let capability):
            guard forwarded else {
                return (.unauthorized, "layer targets are accepted only from the gateway: cross-layer calls go through the gateway")
            }
            guard agents.all.contains(where: { $0.record.layer == name && !$0.record.isGateway
                    && (capability.map($0.record.capabilities.contains) ?? true) })
            else {
                return (.noRoute, "no agent in layer '\(name)'" + (capability.map { " offers capability '\($0)'" } ?? " is registered"))
            }
        }
        return nil
    }

    /// The live agent to deliver to `target`: the addressed one, or the least loaded capable one (ties go
    /// round-robin), within `sameLayer` (the requester's layer, for a direct request; nil for a forwarded one).
    private mutating func chooseAgent(for target: Target, sameLayer: String?) -> AgentHandle? {
        switch target {
        case .agent(let id):
            guard let handle = agents.handle(of: id), agents[current: handle].isAlive, !agents[current: handle].isGateway else { return nil }
            return handle
        case .capability(let name):
            return leastLoaded(offering: name, inLayer: sameLayer)
        case .layer(let layer, let capability?):
            return leastLoaded(offering: capability, inLayer: layer)
        case .layer(let layer, nil):
            return agents.all.filter { $0.record.isAlive && !$0.record.isGateway && $0.record.layer == layer && hasRoom($0.handle) }
                .min { ($0.record.inFlight, $0.record.id) < ($1.record.inFlight, $1.record.id) }?.handle
        }
    }

    /// The least loaded live agent offering `capability` (in `layer`, when given); ties go round-robin.
    private mutating func leastLoaded(offering capability: String, inLayer layer: String?) -> AgentHandle? {
        guard let poolIndex = capabilityIndex.index(forKey: capability) else { return nil }
        let pool = capabilityIndex.values[poolIndex]
        var best: AgentHandle?
        var bestLoad = Int.max
        var chosenOffset = 0
        let count = pool.agents.count
        for offset in 0..<count {
            let handle = pool.agents[(pool.cursor + offset) % count]
            let load = agents[current: handle].inFlight
            guard load < bestLoad, agents[current: handle].isAlive, layer == nil || agents[current: handle].layer == layer,
                  hasRoom(handle) else { continue }
            best = handle
            bestLoad = load
            chosenOffset = offset
        }
        if best != nil { capabilityIndex.values[poolIndex].cursor = (pool.cursor + chosenOffset + 1) % count }
        return best
    }

    /// The requester's connection, when it is alive: by the handle it had, or by its id when it registered again.
    private func livePeer(of handle: AgentHandle, id: String) -> PeerID? {
        if agents.isAlive(handle) { return agents[current: handle].peer }
        guard let other = agents.handle(of: id), agents.isAlive(other) else { return nil }
        return agents[current: other].peer
    }
}
