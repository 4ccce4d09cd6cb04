import ParleyWire

/// Requests: acceptance, de-duplication, routing, delivery, progress, replies, cancellation and outcomes.
extension BrokerCore {
    /// REQUEST: de-duplicate, check limits and route, then deliver or wait for a capable agent.
    mutating func accept(_ request: Request, body: Payload?, from requester: String, now: UInt64) {
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
        let requesterLayer = agents[requester]!.layer
        if let (status, reason) = refusal(of: request, requester: requester, layer: requesterLayer) {
            return sendResult(key, status: status, attempts: 0, body: .text(reason))
        }
        let timeout = min(UInt64(request.timeoutMilliseconds), configuration.maxDeadlineMilliseconds)
        pending[key] = PendingRequest(kind: request.kind, target: request.target, contentType: request.contentType,
                                      requesterLayer: requesterLayer, payload: body, fingerprint: fingerprint,
                                      deadline: now + timeout, hardDeadline: now + configuration.maxDeadlineMilliseconds)
        pendingByRequester[requester, default: 0] += 1
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
        guard var request = pending[key], request.servingAgent == nil else { return }
        guard request.deadline > now else {
            return finish(key, status: .timeout, body: .text("no agent was available before the deadline"))
        }
        guard let agentID = chooseAgent(for: request) else {
            waiting.append(key)
            return
        }
        let deliveryID = nextDeliveryID
        nextDeliveryID += 1
        request.attempts = request.attempts == .max ? .max : request.attempts + 1
        request.deliveryID = deliveryID
        request.servingAgent = agentID
        pending[key] = request
        deliveries[deliveryID] = key
        agents[agentID]!.inFlight += 1
        counters.deliveries += 1
        if request.attempts > 1 { counters.redeliveries += 1 }
        let deliver = Deliver(deliveryID: deliveryID, callbackID: key.callbackID, kind: request.kind,
                              attempt: request.attempts, timeoutMilliseconds: UInt32(clamping: request.deadline - now),
                              requester: key.requester, requesterLayer: request.requesterLayer,
                              contentType: request.contentType)
        send(agents[agentID]!.peer, .deliver(deliver), request.payload.map { .payload($0.share()) } ?? .none)
    }

    /// Tries every parked request again (an agent registered).
    mutating func dispatchWaiting(now: UInt64) {
        guard !waiting.isEmpty else { return }
        let parked = waiting
        waiting.removeAll(keepingCapacity: true)
        for key in parked { dispatch(key, now: now) }
    }

    /// Takes a request back from its serving agent (which went away or left).
    mutating func unassign(_ key: RequestKey) {
        guard var request = pending[key], let agentID = request.servingAgent else { return }
        if let deliveryID = request.deliveryID { deliveries[deliveryID] = nil }
        agents[agentID]?.inFlight -= 1
        request.servingAgent = nil
        request.deliveryID = nil
        pending[key] = request
    }

    /// Ends a request: the one outcome goes to the requester and into the cache for retries.
    mutating func finish(_ key: RequestKey, status: Status, body: Outbound<Payload>.Body) {
        guard let request = pending.removeValue(forKey: key) else { return }
        if let agentID = request.servingAgent {
            if let deliveryID = request.deliveryID { deliveries[deliveryID] = nil }
            agents[agentID]?.inFlight -= 1
            if !status.isHandlerStatus, let record = agents[agentID], record.isAlive, let deliveryID = request.deliveryID {
                send(record.peer, .revoke(deliveryID: deliveryID))
            }
        }
        if let count = pendingByRequester[key.requester], count > 1 {
            pendingByRequester[key.requester] = count - 1
        } else {
            pendingByRequester[key.requester] = nil
        }
        if configuration.dedupeCapacity > 0 {
            outcomes.insert(key, .init(status: status, attempts: request.attempts, body: share(body),
                                       fingerprint: request.fingerprint, finishedAt: latestNow),
                            capacity: configuration.dedupeCapacity)
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
        refuse(status: .badRequest, command: CommandCode.error.rawValue, callbackID: key.callbackID, peer: peer,
               reason: "callback id \(key.callbackID) was already used with a different payload")
    }

    /// Why the request cannot be routed at all, or nil when it can (now or once an agent comes back).
    private func refusal(of request: Request, requester: String, layer: String) -> (Status, String)? {
        if pendingByRequester[requester, default: 0] >= configuration.maxPendingPerRequester {
            return (.overloaded, "agent '\(requester)' already has \(configuration.maxPendingPerRequester) pending requests")
        }
        if pending.count >= configuration.maxPending {
            return (.overloaded, "the broker holds its maximum of \(configuration.maxPending) pending requests")
        }
        switch request.target {
        case .agent(let id):
            guard let target = agents[id] else { return (.noRoute, "no agent '\(id)' is registered") }
            guard target.layer == layer else {
                return (.unauthorized, "agent '\(id)' is in layer '\(target.layer)', not '\(layer)': cross-layer calls go through the gateway")
            }
        case .capability(let name):
            guard let pool = capabilityIndex[name], !pool.agentIDs.isEmpty else {
                return (.noRoute, "no agent offers capability '\(name)'")
            }
            guard pool.agentIDs.contains(where: { agents[$0]?.layer == layer }) else {
                return (.unauthorized, "capability '\(name)' is offered only outside layer '\(layer)': cross-layer calls go through the gateway")
            }
        case .layer:
            return (.unauthorized, "layer targets are accepted only from the gateway: cross-layer calls go through the gateway")
        }
        return nil
    }

    /// The live agent to deliver to: the addressed one, or the least loaded capable one in the requester's
    /// layer (ties go round-robin).
    private mutating func chooseAgent(for request: PendingRequest<Payload>) -> String? {
        switch request.target {
        case .agent(let id):
            return agents[id]?.isAlive == true ? id : nil
        case .capability(let name):
            guard var pool = capabilityIndex[name] else { return nil }
            var best: String?
            var bestLoad = Int.max
            let count = pool.agentIDs.count
            var chosenOffset = 0
            for offset in 0..<count {
                let id = pool.agentIDs[(pool.cursor + offset) % count]
                guard let record = agents[id], record.isAlive, record.layer == request.requesterLayer,
                      record.inFlight < bestLoad else { continue }
                best = id
                bestLoad = record.inFlight
                chosenOffset = offset
            }
            if best != nil {
                pool.cursor = (pool.cursor + chosenOffset + 1) % count
                capabilityIndex[name] = pool
            }
            return best
        case .layer:
            return nil
        }
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
