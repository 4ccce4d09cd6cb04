import ParleyWire

/// Requests: acceptance, de-duplication, routing, delivery, progress, replies, cancellation and outcomes.
extension BrokerCore {
    /// REQUEST (or a gateway's FORWARD, with the caller it speaks for): de-duplicate, check limits and
    /// route, then deliver or wait for a capable agent.
    mutating func accept(_ request: Request, body: Payload?, from requester: String, forwardedFor caller: (id: String, layer: String)? = nil,
                         now: UInt64) {
        let key = RequestKey(requester: requester, callbackID: request.callbackID)
        let fingerprint = body?.fingerprint ?? emptyPayloadFingerprint
        if let existing = pending[key] {
            guard existing.fingerprint == fingerprint else { return refuseReuse(key) }
            counters.dedupeHits += 1
            return
        }
        if let cached = outcomes.lookup(key) {
            guard cached.fingerprint == fingerprint else { return refuseReuse(key) }
            counters.dedupeHits += 1
            return sendResult(key, status: cached.status, attempts: cached.attempts, body: share(cached.body))
        }
        let requesterLayer = caller?.layer ?? agents[requester]!.layer
        let size = body?.byteCount ?? 0
        if let (status, reason) = refusal(of: request, size: size, requester: caller?.id ?? requester, layer: requesterLayer,
                                          forwarded: caller != nil) {
            return sendResult(key, status: status, attempts: 0, body: .text(reason))
        }
        let timeout = min(UInt64(request.timeoutMilliseconds), configuration.maxDeadlineMilliseconds)
        pending[key] = PendingRequest(kind: request.kind, target: request.target, contentType: request.contentType,
                                      requesterLayer: requesterLayer, caller: caller?.id, payload: body, fingerprint: fingerprint,
                                      deadline: now + timeout, hardDeadline: now + configuration.maxDeadlineMilliseconds)
        pendingByRequester[caller?.id ?? requester, default: RequesterLoad()].count += 1
        pendingByRequester[caller?.id ?? requester]!.bytes += size
        pendingBytes += size
        counters.accepted += 1
        deadlines.insert(now + timeout, key)
        dispatch(key, now: now)
    }

    /// REPLY: the serving agent's answer ends the request. A reply for a delivery that is no longer
    /// current (timed out, cancelled, moved to another agent) is dropped and counted.
    mutating func answer(_ reply: Reply, body: Payload?, from agentID: String) {
        guard let key = deliveries[reply.deliveryID], pending[key]?.servingAgent == agentID else {
            counters.lateReplies += 1
            return
        }
        finish(key, status: reply.status, body: body.map { .payload($0) } ?? .none)
    }

    /// PROGRESS: extends the deadline (never past the hard maximum) and tells the requester.
    mutating func extend(_ progress: ProgressReport, note: Payload?, from agentID: String, now: UInt64) {
        guard let key = deliveries[progress.deliveryID], var request = pending[key], request.servingAgent == agentID,
              request.deadline > now
        else { return }
        let wanted = min(now + UInt64(progress.extendMilliseconds), request.hardDeadline)
        if progress.extendMilliseconds > 0, wanted > request.deadline {
            request.deadline = wanted
            pending[key] = request
            deadlines.insert(wanted, key)
        }
        guard let peer = livePeer(of: key.requester) else { return }
        send(peer, .extended(Extended(callbackID: key.callbackID, timeoutMilliseconds: UInt32(clamping: request.deadline - now))),
             note.map { .payload($0) } ?? .none)
    }

    /// CANCEL: ends a pending request with CANCELLED and revokes its delivery; a finished one gets its outcome again.
    mutating func cancel(_ callbackID: CallbackID, from requester: String) {
        let key = RequestKey(requester: requester, callbackID: callbackID)
        if pending[key] != nil {
            return finish(key, status: .cancelled, body: .text("cancelled by the requester"))
        }
        if let cached = outcomes.lookup(key) {
            return sendResult(key, status: cached.status, attempts: cached.attempts, body: share(cached.body))
        }
        guard let peer = livePeer(of: requester) else { return }
        refuse(status: .badRequest, command: CommandCode.cancel.rawValue, callbackID: callbackID, peer: peer,
               reason: "no request with callback id \(callbackID) to cancel")
    }

    /// Delivers the request to a capable live agent, or parks it until one registers.
    mutating func dispatch(_ key: RequestKey, now: UInt64) {
        guard let index = pending.index(forKey: key), pending.values[index].servingAgent == nil else { return }
        guard pending.values[index].deadline > now else {
            return finish(key, status: .timeout, body: .text("no agent was available before the deadline"))
        }
        guard let agentIndex = chooseAgent(for: pending.values[index]) else {
            return waiting.park(key, waitingFor: .init(pending.values[index].target))
        }
        let deliveryID = nextDeliveryID
        nextDeliveryID += 1
        pending.values[index].attempts = pending.values[index].attempts == .max ? .max : pending.values[index].attempts + 1
        pending.values[index].deliveryID = deliveryID
        pending.values[index].servingAgent = agents.keys[agentIndex]
        let request = pending.values[index]
        deliveries[deliveryID] = key
        agents.values[agentIndex].serving.insert(key)
        counters.deliveries += 1
        if request.attempts > 1 { counters.redeliveries += 1 }
        let deliver = Deliver(deliveryID: deliveryID, callbackID: key.callbackID, kind: request.kind,
                              attempt: request.attempts, timeoutMilliseconds: UInt32(clamping: request.deadline - now),
                              requester: request.caller ?? key.requester, requesterLayer: request.requesterLayer,
                              contentType: request.contentType)
        send(agents.values[agentIndex].peer, .deliver(deliver), request.payload.map { .payload($0.share()) } ?? .none)
    }

    /// Tries again the parked requests `agent` may serve: those for its id, its layer and its capabilities.
    mutating func dispatchWaiting(for agent: AgentRecord, now: UInt64) {
        guard !waiting.isEmpty, !agent.isGateway else { return }
        var reasons: [WaitingRequests.Reason] = [.agent(agent.id), .layer(agent.layer)]
        for capability in agent.capabilities { reasons.append(.capability(capability)) }
        for reason in reasons {
            for key in waiting.take(reason) { dispatch(key, now: now) }
        }
    }

    /// Takes a request back from its serving agent (which went away or left).
    mutating func unassign(_ key: RequestKey) {
        guard var request = pending[key], let agentID = request.servingAgent else { return }
        if let deliveryID = request.deliveryID { deliveries[deliveryID] = nil }
        agents[agentID]?.serving.remove(key)
        request.servingAgent = nil
        request.deliveryID = nil
        pending[key] = request
    }

    /// Ends a request: the one outcome goes to the requester and into the cache for retries.
    mutating func finish(_ key: RequestKey, status: Status, body: Outbound<Payload>.Body) {
        guard let request = pending.removeValue(forKey: key) else { return }
        if request.servingAgent == nil { waiting.remove(key) }
        if let agentID = request.servingAgent {
            if let deliveryID = request.deliveryID { deliveries[deliveryID] = nil }
            agents[agentID]?.serving.remove(key)
            if !status.isHandlerStatus, let record = agents[agentID], record.isAlive, let deliveryID = request.deliveryID {
                send(record.peer, .revoke(deliveryID: deliveryID))
            }
        }
        let size = request.payload?.byteCount ?? 0
        pendingBytes -= size
        let budget = request.caller ?? key.requester
        if var load = pendingByRequester[budget], load.count > 1 {
            load.count -= 1
            load.bytes -= size
            pendingByRequester[budget] = load
        } else {
            pendingByRequester[budget] = nil
        }
        if outcomes.capacity > 0 {
            let bytes: Int
            switch body {
            case .none: bytes = 0
            case .payload(let payload): bytes = payload.byteCount
            case .text(let text): bytes = text.utf8.count
            }
            outcomes.insert(key, CachedOutcome(status: status, attempts: request.attempts, body: share(body),
                                               fingerprint: request.fingerprint), now: latestNow, bytes: bytes)
        }
        sendResult(key, status: status, attempts: request.attempts, body: body)
    }

    private mutating func sendResult(_ key: RequestKey, status: Status, attempts: UInt8, body: Outbound<Payload>.Body) {
        counters.outcomes[Int(status.rawValue)] += 1
        guard let peer = livePeer(of: key.requester) else { return }
        send(peer, .result(ResultHeader(callbackID: key.callbackID, status: status, attempts: attempts)), body)
    }

    private mutating func refuseReuse(_ key: RequestKey) {
        guard let peer = livePeer(of: key.requester) else { return }
        refuse(status: .badRequest, command: CommandCode.request.rawValue, callbackID: key.callbackID, peer: peer,
               reason: "callback id \(key.callbackID) was already used with a different payload")
    }

    /// Why the request cannot be routed at all, or nil when it can (now or once an agent comes back).
    /// Forwarded requests (the gateway checked the policy) skip the same-layer rule and may name layers.
    /// Why a request of `size` payload bytes from `requester` (a forwarded call's original caller) is refused, or nil.
    private func refusal(of request: Request, size: Int, requester: String, layer: String, forwarded: Bool) -> (Status, String)? {
        if draining {
            return (.unavailable, "the broker is shutting down; retry with another broker or later")
        }
        let load = pendingByRequester[requester] ?? RequesterLoad()
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
            guard let pool = capabilityIndex[name], !pool.agentIDs.isEmpty else {
                return (.noRoute, "no agent offers capability '\(name)'")
            }
            guard forwarded || pool.agentIDs.contains(where: { agents[$0]?.layer == layer }) else {
                return (.unauthorized, "capability '\(name)' is offered only outside layer '\(layer)': cross-layer calls go through the gateway")
            }
        case .layer(let name, let capability):
            guard forwarded else {
                return (.unauthorized, "layer targets are accepted only from the gateway: cross-layer calls go through the gateway")
            }
            guard agents.values.contains(where: { $0.layer == name && !$0.isGateway && (capability.map($0.capabilities.contains) ?? true) })
            else {
                return (.noRoute, "no agent in layer '\(name)'" + (capability.map { " offers capability '\($0)'" } ?? " is registered"))
            }
        }
        return nil
    }

    /// The live agent to deliver to: the addressed one, or the least loaded capable one in the requester's
    /// layer (ties go round-robin).
    private mutating func chooseAgent(for request: PendingRequest<Payload>) -> Dictionary<String, AgentRecord>.Index? {
        switch request.target {
        case .agent(let id):
            guard let index = agents.index(forKey: id), agents.values[index].isAlive, !agents.values[index].isGateway else { return nil }
            return index
        case .capability(let name):
            return leastLoaded(offering: name, inLayer: request.caller == nil ? request.requesterLayer : nil)
        case .layer(let layer, let capability?):
            return leastLoaded(offering: capability, inLayer: layer)
        case .layer(let layer, nil):
            return agents.indices.filter { agents.values[$0].isAlive && !agents.values[$0].isGateway && agents.values[$0].layer == layer }
                .min { (agents.values[$0].inFlight, agents.values[$0].id) < (agents.values[$1].inFlight, agents.values[$1].id) }
        }
    }

    /// The least loaded live agent offering `capability` (in `layer`, when given); ties go round-robin.
    private mutating func leastLoaded(offering capability: String, inLayer layer: String?) -> Dictionary<String, AgentRecord>.Index? {
        guard var pool = capabilityIndex[capability] else { return nil }
        var best: Dictionary<String, AgentRecord>.Index?
        var bestLoad = Int.max
        var chosenOffset = 0
        let count = pool.agentIDs.count
        for offset in 0..<count {
            guard let index = agents.index(forKey: pool.agentIDs[(pool.cursor + offset) % count]) else { continue }
            let record = agents.values[index]
            guard record.isAlive, layer == nil || record.layer == layer, record.inFlight < bestLoad else { continue }
            best = index
            bestLoad = record.inFlight
            chosenOffset = offset
        }
        if best != nil {
            pool.cursor = (pool.cursor + chosenOffset + 1) % count
            capabilityIndex[capability] = pool
        }
        return best
    }

    private func livePeer(of agentID: String) -> PeerID? {
        guard let record = agents[agentID], record.isAlive else { return nil }
        return record.peer
    }

    private func share(_ body: Outbound<Payload>.Body) -> Outbound<Payload>.Body {
        if case .payload(let payload) = body { return .payload(payload.share()) }
        return body
    }
}
