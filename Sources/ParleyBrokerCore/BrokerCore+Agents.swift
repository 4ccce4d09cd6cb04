import ParleyWire

/// Registration, heartbeats and liveness.
extension BrokerCore {
    /// HELLO: a new agent, the same agent process reconnecting (same instance: takeover), or a restarted
    /// agent whose earlier registration went away. A live agent's id held by another instance is refused.
    mutating func register(_ hello: Hello, peer: PeerID, identity: String?, now: UInt64) {
        if keyRing == nil, configuration.gatewayIDs?.contains(hello.agentID) == true {
            return refuse(status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: nil, peer: peer,
                          reason: "id '\(hello.agentID)' is reserved for gateways; choose another id")
        }
        if let problem = identityProblem(hello, identity: identity) {
            return refuse(status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: nil, peer: peer, reason: problem)
        }
        admit(id: hello.agentID, layer: hello.layer, capabilities: hello.capabilities, instance: hello.instance,
              features: hello.features, isGateway: false, peer: peer, now: now)
    }

    /// GATEWAY_HELLO: accepted from a connection CURVE authenticated as a gateway, or in development mode
    /// (no keys) with the broker's gateway token.
    mutating func registerGateway(_ hello: GatewayHello, peer: PeerID, identity: String?, now: UInt64) {
        let refusal: String?
        if let keyRing {
            let entry = identity.flatMap(keyRing.entry(forID:))
            refusal = entry?.role == .gateway && entry?.id == hello.gatewayID ? nil
                : "the connection's key does not belong to gateway '\(hello.gatewayID)'"
        } else if let token = configuration.gatewayToken, !token.isEmpty {
            if let allowed = configuration.gatewayIDs, !allowed.contains(hello.gatewayID) {
                refusal = "gateway id '\(hello.gatewayID)' is not one of this broker's gateway-ids (\(allowed.sorted().joined(separator: ", ")))"
            } else {
                refusal = hello.token == token ? nil : "wrong gateway token"
            }
        } else {
            refusal = "this broker accepts no gateway (no CURVE keys and no gateway token configured)"
        }
        if let refusal {
            return refuse(status: .unauthorized, command: CommandCode.gatewayHello.rawValue, callbackID: nil, peer: peer, reason: refusal)
        }
        admit(id: hello.gatewayID, layer: "gateway", capabilities: [], instance: hello.instance, features: nil, isGateway: true,
              peer: peer, now: now)
    }

    /// With CURVE, why the HELLO does not match the key's identity (id and layer), or nil.
    private func identityProblem(_ hello: Hello, identity: String?) -> String? {
        guard let keyRing else { return nil }
        guard let identity, let entry = keyRing.entry(forID: identity) else { return "the connection is not authenticated" }
        guard entry.role == .agent else { return "key '\(identity)' belongs to a gateway, not an agent" }
        guard entry.id == hello.agentID else { return "the connection's key belongs to '\(entry.id)', not '\(hello.agentID)'" }
        guard entry.layer == hello.layer else {
            return "agent '\(entry.id)' is registered in layer '\(entry.layer ?? "?")', not '\(hello.layer)'"
        }
        for capability in hello.capabilities {
            if let problem = keyRing.capabilityProblem(capability, offeredBy: entry) { return problem }
        }
        return nil
    }

    /// Registers an agent or gateway: new, the same process reconnecting (same instance: takeover), or a
    /// restarted one whose earlier registration went away. A live id held by another instance is contested first
    /// (see `settleContestedHellos`); with `contesting` false it is refused. `features` are the protocol 1.1
    /// features the HELLO asked for (nil: a 1.0 HELLO); the WELCOME grants the known ones.
    private mutating func admit(id agentID: String, layer: String, capabilities requested: [String], instance: UInt64,
                                features: Features?, isGateway: Bool, peer: PeerID, contesting: Bool = true, now: UInt64) {
        let hello = (agentID: agentID, instance: instance)
        let existingHandle = agents.handle(of: agentID)
        if let existingHandle, agents[current: existingHandle].isGateway != isGateway {
            // An id is either an agent's or a gateway's while the broker remembers it, alive or away.
            let existing = agents[current: existingHandle]
            counters.duplicateIDsRefused += 1
            return refuse(status: .unauthorized, command: isGateway ? CommandCode.gatewayHello.rawValue : CommandCode.hello.rawValue,
                          callbackID: nil, peer: peer,
                          reason: "id '\(agentID)' belongs to \(existing.isGateway ? "a gateway" : "an agent"); choose another id")
        }
        if let existingHandle, agents[current: existingHandle].isAlive, agents[current: existingHandle].instance != hello.instance {
            if contesting {
                // The probe: if the holder's connection is gone, sending to it fails and the reactor reports it unreachable.
                send(agents[current: existingHandle].peer, .heartbeat)
                contestedHellos.append(ContestedHello(id: agentID, layer: layer, capabilities: requested, instance: instance,
                                                      features: features, isGateway: isGateway, peer: peer))
                return
            }
            counters.duplicateIDsRefused += 1
            return refuse(status: .unauthorized, command: isGateway ? CommandCode.gatewayHello.rawValue : CommandCode.hello.rawValue,
                          callbackID: nil, peer: peer,
                          reason: "agent id '\(hello.agentID)' is held by another live agent; choose another id or stop that agent")
        }
        if let previous = agents.handle(of: peer), previous != existingHandle {
            unregister(previous, now: now)
        }
        var capabilities: [String] = []
        for capability in requested where !capabilities.contains(capability) { capabilities.append(capability) }
        var record = AgentRecord(id: hello.agentID, layer: layer, capabilities: capabilities,
                                 instance: hello.instance, peer: peer, lastHeard: now)
        record.isGateway = isGateway
        let granted = features.map { $0.intersection(.known) }
        record.confirmsInBatches = granted?.contains(.confirmBatches) ?? false
        let handle: AgentHandle
        if let existingHandle {
            // The same agent again (takeover, or back from away): same handle, so its requests stay linked to it.
            let existing = agents[current: existingHandle]
            detach(existingHandle)
            if !existing.isAlive { awayAgents.removeOne(isCurrent: isStillAway) }
            record.firstServed = existing.firstServed
            record.inFlight = existing.inFlight
            record.inFlightBytes = existing.inFlightBytes
            agents[current: existingHandle] = record
            handle = existingHandle
        } else {
            handle = agents.insert(record)
        }
        agents.bind(peer, to: handle)
        for capability in capabilities {
            capabilityIndex[capability, default: CapabilityPool()].agents.append(handle)
        }
        send(peer, .welcome(Welcome(heartbeatMilliseconds: UInt32(clamping: configuration.heartbeatMilliseconds),
                                    liveness: UInt8(clamping: configuration.liveness),
                                    maxBodyBytes: UInt32(clamping: configuration.maxBodyBytes), features: granted)))
        requeueDeliveries(of: handle, now: now)
        serveWaiting(handle, now: now)
    }

    /// Settles the registrations that claimed an id a live agent (or gateway) of another instance holds, once the
    /// reactor has sent the outbox, whose HEARTBEAT probed each holder, and reported the peers it found unreachable:
    /// a claim whose holder was found gone takes the registration over (as a restarted agent does from an away one),
    /// any other is refused with UNAUTHORIZED.
    public mutating func settleContestedHellos(now: UInt64) {
        latestNow = max(latestNow, now)
        let contested = contestedHellos
        contestedHellos.removeAll(keepingCapacity: true)
        for hello in contested {
            admit(id: hello.id, layer: hello.layer, capabilities: hello.capabilities, instance: hello.instance,
                  features: hello.features, isGateway: hello.isGateway, peer: hello.peer, contesting: false, now: now)
        }
    }

    /// Whether registrations wait for `settleContestedHellos`.
    public var hasContestedHellos: Bool { !contestedHellos.isEmpty }

    /// A HELLO, GATEWAY_HELLO or BYE from a peer whose claim waits to be settled replaces the claim (a peer that left,
    /// or registers again, does not get the contested id afterwards).
    mutating func withdrawContestedHello(of peer: PeerID, after header: Header) {
        switch header {
        case .hello, .gatewayHello, .bye: contestedHellos.removeAll { $0.peer == peer }
        default: break
        }
    }

    /// BYE: the agent leaves for good. Requests it was serving move to another capable agent; requests
    /// addressed to it by id end with UNAVAILABLE.
    mutating func unregister(_ agent: AgentHandle, now: UInt64) {
        guard let record = agents[agent] else { return }
        let served = served(by: agent)
        for slot in served { unassign(slot) }
        detach(agent)
        agents.remove(agent)
        if !record.isAlive { awayAgents.removeOne(isCurrent: isStillAway) }
        // What it served, and what waits for it by id: nothing else can involve it.
        for slot in served where pending.isOccupied(slot) {
            if isAddressed(pending[slot], to: record.id) {
                finish(slot, status: .unavailable, body: .text("agent '\(record.id)' left"))
            } else {
                dispatch(slot, now: now)
            }
        }
        for slot in waiting.take(.agent(record.id)) {
            finish(slot, status: .unavailable, body: .text("agent '\(record.id)' left"))
        }
    }

    /// The agent stopped heartbeating or cannot be reached: it is remembered as away, so that requests
    /// addressed to it wait for its return; the requests it was serving are redelivered.
    mutating func markAway(_ agent: AgentHandle, now: UInt64) {
        guard let record = agents[agent], record.isAlive else { return }
        agents.unbind(record.peer, from: agent)
        agents[current: agent].isAlive = false
        agents[current: agent].awaySince = now
        awayAgents.add(record.id, since: now, isCurrent: isStillAway)
        requeueDeliveries(of: agent, now: now)
        while awayAgents.count > configuration.maxAwayAgents, let oldest = awayAgents.oldest(where: isStillAway),
              let handle = agents.handle(of: oldest) {
            unregister(handle, now: now)
        }
    }

    /// Sends HEARTBEAT to live agents, marks silent ones away, and forgets agents away for too long.
    mutating func heartbeatAndCheckLiveness(now: UInt64) {
        let silence = configuration.heartbeatMilliseconds * configuration.liveness
        var silent: [AgentHandle] = []
        var forgotten: [AgentHandle] = []
        for (handle, record) in agents.all {
            if record.isAlive {
                if now &- record.lastHeard > silence { silent.append(handle) } else { send(record.peer, .heartbeat) }
            } else if now &- record.awaySince > configuration.awayRetentionMilliseconds {
                forgotten.append(handle)
            }
        }
        for agent in silent { markAway(agent, now: now) }
        for agent in forgotten { unregister(agent, now: now) }
    }

    /// Removes the agent's peer mapping and capability entries (the record itself stays).
    private mutating func detach(_ agent: AgentHandle) {
        let record = agents[current: agent]
        agents.unbind(record.peer, from: agent)
        for capability in record.capabilities {
            capabilityIndex[capability]?.agents.removeAll { $0 == agent }
            if capabilityIndex[capability]?.agents.isEmpty == true { capabilityIndex[capability] = nil }
        }
    }

    /// Takes back every request delivered to the agent and routes it again.
    private mutating func requeueDeliveries(of agent: AgentHandle, now: UInt64) {
        for slot in served(by: agent) {
            unassign(slot)
            dispatch(slot, now: now)
        }
    }

    /// Whether `agentID` is still away since `since` (an entry of `awayAgents` that still holds).
    private func isStillAway(_ agentID: String, since: UInt64) -> Bool {
        guard let record = agents[agentID] else { return false }
        return !record.isAlive && record.awaySince == since
    }

    private func isAddressed(_ request: PendingRequest<Payload>, to agentID: String) -> Bool {
        if case .agent(agentID) = request.target { return true }
        return false
    }
}
