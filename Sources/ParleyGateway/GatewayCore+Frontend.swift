import ParleyPolicy
import ParleyWire
import ZeroMQ

/// Callers: registration, heartbeats, and the policy check of every cross-layer request.
extension GatewayCore {
    /// Handles one decoded message from a caller. `identity` is the connection's CURVE user id, if any.
    public mutating func handleFront(_ header: Header, body: Message?, from peer: PeerID, identity: String?, now: UInt64) {
        latestNow = max(latestNow, now)
        if header == .bye || header.code == .hello { contestedHellos.removeAll { $0.peer == peer } }  // the peer's claim is over
        if case .hello(let hello) = header { return register(hello, peer: peer, identity: identity, now: now) }
        guard let callerID = callerByPeer[peer], let index = callers.index(forKey: callerID) else {
            if case .request(let request) = header {
                refuse(peer, status: .unavailable, command: CommandCode.request.rawValue, callbackID: request.callbackID, reason: "not registered: send HELLO first")
            }
            if header != .bye { frontOutbox.append(send(peer, .bye)) }
            return
        }
        callers.values[index].lastHeard = now
        switch header {
        case .heartbeat:
            break
        case .bye:
            callers[callerID] = nil
            callerByPeer[peer] = nil
        case .request(let request):
            decide(request, body: body, caller: callers.values[index], now: now)
        case .cancel(let callbackID):
            let backendID = callers.values[index].backendIDs.id(for: callbackID)
            if forwards[backendID] != nil { backOutbox.append(BackOutbound(header: .cancel(backendID), body: .none)) }
        default:
            refuse(peer, status: .badRequest, command: header.code.rawValue, callbackID: nil,
                   reason: "the gateway accepts HELLO, HEARTBEAT, REQUEST, CANCEL and BYE, not \(header.code)")
        }
    }

    /// The caller's connection is gone: forget its registration, so that a restarted process may take the id.
    public mutating func callerUnreachable(_ peer: PeerID) {
        guard let callerID = callerByPeer.removeValue(forKey: peer) else { return }
        if callers[callerID]?.peer == peer { callers[callerID] = nil }
    }

    /// Settles the HELLOs that claimed an id a live caller of another instance holds, once the reactor has sent the
    /// front outbox, whose HEARTBEAT probed each holder, and reported the callers it found unreachable: a claim whose
    /// holder was found gone (a killed process) registers, any other is refused with UNAUTHORIZED.
    public mutating func settleContestedHellos(now: UInt64) {
        let contested = contestedHellos
        contestedHellos.removeAll(keepingCapacity: true)
        for claim in contested { register(claim.hello, peer: claim.peer, identity: claim.identity, contesting: false, now: now) }
    }

    /// Whether registrations wait for `settleContestedHellos`.
    public var hasContestedHellos: Bool { !contestedHellos.isEmpty }

    /// HELLO: with CURVE keys the id and layer must be the key's; in development mode the declared layer is trusted.
    /// An id a live caller of another instance holds is contested first (see `settleContestedHellos`); with
    /// `contesting` false it is refused.
    private mutating func register(_ hello: Hello, peer: PeerID, identity: String?, contesting: Bool = true, now: UInt64) {
        if let keyRing {
            let entry = identity.flatMap(keyRing.entry(forID:))
            let problem: String?
            if entry == nil || entry?.role != .agent {
                problem = "the connection is not authenticated as an agent"
            } else if entry?.id != hello.agentID {
                problem = "the connection's key belongs to '\(entry!.id)', not '\(hello.agentID)'"
            } else if entry?.layer != hello.layer {
                problem = "agent '\(hello.agentID)' is registered in layer '\(entry!.layer ?? "?")', not '\(hello.layer)'"
            } else {
                problem = nil
            }
            if let problem { return refuse(peer, status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: nil, reason: problem) }
        }
        if let existing = callers[hello.agentID], existing.instance != hello.instance,
           now &- existing.lastHeard <= configuration.heartbeatMilliseconds * configuration.liveness {
            if contesting {
                // The probe: if the holder's connection is gone, sending to it fails and the reactor reports it unreachable.
                frontOutbox.append(send(existing.peer, .heartbeat))
                contestedHellos.append((hello, peer, identity))
                return
            }
            return refuse(peer, status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: nil,
                          reason: "agent id '\(hello.agentID)' is held by another live agent")
        }
        if let existing = callers[hello.agentID] { callerByPeer[existing.peer] = nil }
        // The connection registered under another id before: that registration ends now.
        if let previous = callerByPeer[peer], previous != hello.agentID { callers[previous] = nil }
        callers[hello.agentID] = CallerRecord(id: hello.agentID, layer: hello.layer, instance: hello.instance, peer: peer, lastHeard: now,
                                              backendIDs: BackendCallbackIDs(salt: salt, caller: hello.agentID))
        callerByPeer[peer] = hello.agentID
        frontOutbox.append(send(peer, .welcome(Welcome(heartbeatMilliseconds: UInt32(clamping: configuration.heartbeatMilliseconds),
                                                       liveness: UInt8(clamping: configuration.liveness),
                                                       maxBodyBytes: UInt32(clamping: configuration.maxBodyBytes)))))
    }

    /// REQUEST: layer targets only; policy (edge, kind, size), then the caller's rate; every decision audited, and
    /// acted on once `settleAudit` says whether its record was written.
    private mutating func decide(_ request: Request, body: Message?, caller: CallerRecord, now: UInt64) {
        guard case .layer(let toLayer, let need) = request.target else {
            return refuse(caller.peer, status: .badRequest, command: CommandCode.request.rawValue, callbackID: request.callbackID,
                          reason: "the gateway routes layer:<name>[/<capability>] targets, not \(request.target)")
        }
        let backendID = caller.backendIDs.id(for: request.callbackID)
        if forwards[backendID] != nil { return }  // a retry of a call in flight
        guard backendRegistered else {
            return refuse(caller.peer, status: .unavailable, command: CommandCode.request.rawValue, callbackID: request.callbackID,
                          reason: "the gateway has no connection to the broker; retry later")
        }
        let payloadBytes = body?.count ?? 0
        var decision = policy.decide(PolicyQuery(fromLayer: caller.layer, toLayer: toLayer, kind: request.kind, payloadBytes: payloadBytes))
        var status = Status.unauthorized
        if decision.verdict == .allow, let rule = policy.rule(named: decision.rule),
           !rates.admit(caller: caller.id, rule: rule, now: now) {
            decision = PolicyDecision(verdict: .deny, rule: rule.name,
                                      reason: "caller '\(caller.id)' is over rule \(rule.name)'s rate of \(rule.rate.map(\.description) ?? "?")")
            status = .overloaded
        }
        audit.append(AuditRecord(time: wallClockOffset &+ now, caller: caller.id, fromLayer: caller.layer, toLayer: toLayer,
                                 kind: request.kind.description, need: need ?? "", rule: decision.rule,
                                 verdict: decision.verdict.rawValue, reason: decision.reason,
                                 callbackID: request.callbackID, payloadBytes: payloadBytes))
        guard decision.verdict == .allow else {
            return awaitingAudit.append(.refusal(peer: caller.peer, callbackID: request.callbackID, status: status,
                                                 reason: "\(caller.layer) → \(toLayer) refused by \(decision.rule): \(decision.reason)"))
        }
        var forwarded = request
        forwarded.callbackID = backendID
        let deadline = now + UInt64(request.timeoutMilliseconds)
        // In flight from now on (a retry is ignored), but sent only once the audit record is written.
        forwards[backendID] = ForwardRecord(caller: caller.id, callerCallbackID: request.callbackID, deadline: deadline,
                                            giveUpAt: deadline + configuration.graceMilliseconds)
        forwardsDue = min(forwardsDue, deadline + configuration.graceMilliseconds)
        awaitingAudit.append(.forward(backendID, BackOutbound(header: .forward(Forward(request: forwarded, caller: caller.id,
                                                                                       callerLayer: caller.layer)),
                                                              body: body.map { .payload($0) } ?? .none)))
    }
}
