import HeapModule
import ParleyWire

/// The broker's routing and correlation logic as a sans-I/O state machine.
///
/// Feed it decoded headers, opaque payloads and the current time (monotonic milliseconds); it appends
/// the messages to send to `outbox`. It never touches a socket, never decodes a payload and never blocks,
/// so tests drive it directly. Not thread-safe: one reactor thread owns it.
public struct BrokerCore<Payload: BrokerPayload> {
    /// The tunables in force.
    public let configuration: BrokerConfiguration
    /// Messages to send to peers, in order. The reactor calls `closeTurn()`, sends them and calls `clearOutbox()`.
    public internal(set) var outbox = EncodedOutbox<PeerID, Payload>()
    /// This turn's confirmations for publishers that asked for batches; `closeTurn()` moves them to `outbox`.
    var confirmBatches = ConfirmBatches()
    /// Messages for the events socket, sent before `outbox` so that a CONFIRM follows its event.
    public internal(set) var publications = EncodedOutbox<[UInt8], Payload>()
    /// Events to write to the journal before the outbox (and its CONFIRMs) goes out; with `journaling` only.
    public internal(set) var journal: [(header: EventHeader, body: Payload?)] = []
    /// Topics forgotten or purged, to write to the journal before `journal`; with `journaling` only.
    public internal(set) var topicMarks: [TopicMark] = []
    /// Running totals.
    public internal(set) var counters = BrokerCounters()

    /// The registered agents, by handle, id and connection.
    var agents = AgentTable()
    /// The agents away now, oldest first.
    var awayAgents = AwayAgents()
    var capabilityIndex: [String: CapabilityPool] = [:]
    /// The pending requests, by slot; a delivery id names its slot.
    var pending: PendingSlab<Payload>
    /// The slot of each pending request, by (requester, callback id): de-duplication of retries.
    var pendingIndex: RequestIndex
    /// Requests no live agent can serve yet (their slots), by what they wait for.
    var waiting = WaitingRequests<Int32>()
    var deadlines = Heap<Due<PendingTicket>>()
    var outcomes: RecentRing<CachedOutcome<Payload>>
    /// Until then, requests for targets nobody offers wait instead of ending NO_ROUTE (agents re-register
    /// after a broker restart); then the ones still without a route end NO_ROUTE. nil once the grace is over
    /// (or when there is none).
    var routeGraceEnds: UInt64?
    var nextHeartbeat: UInt64
    /// Pending requests per requester id (kept apart from agent records, which come and go).
    /// What each requester (a forwarded call's original caller) has pending.
    var pendingByRequester: [String: RequesterLoad] = [:]
    /// Payload bytes of every pending request.
    var pendingBytes = 0
    /// The latest time the core was given: when outcomes finished, for the outcome cache.
    var latestNow: UInt64
    /// Added to monotonic time to stamp events with wall-clock milliseconds since the Unix epoch.
    let wallClockOffset: UInt64
    var topics: RetainedTopics<Payload>
    /// The CONFIRMs of recent events by (publisher, event id), to answer resends.
    var confirmedEvents: RecentRing<Confirm>
    /// The topics with BEACONs still to send (their count is in the topic's log), in the order they became active.
    var beaconTopics: [Topic] = []
    /// Registrations claiming a live holder's id, waiting for `settleContestedHellos`.
    var contestedHellos: [ContestedHello] = []
    /// True once shutdown began: new requests are refused.
    var draining = false
    /// With CURVE: who each public key is. Registrations must match the authenticated identity.
    let keyRing: KeyRing?

    /// A core with no agents, its first heartbeat due one interval after `now`. `wallClock` is the
    /// Unix time in milliseconds at `now`, for event timestamps.
    /// With `keyRing`, HELLO and GATEWAY_HELLO must match the identity CURVE authenticated for the connection.
    /// `seed` keys the de-duplication hashes and starts the delivery ids: give a random one (the core has no random
    /// source), so that a peer cannot aim its ids at one hash chain and a restarted broker does not reuse the delivery
    /// ids agents still hold.
    public init(configuration: BrokerConfiguration = BrokerConfiguration(), now: UInt64, wallClock: UInt64 = 0,
                keyRing: KeyRing? = nil, seed: UInt64) {
        self.pending = PendingSlab(deliverySeed: seed)
        self.pendingIndex = RequestIndex(seed: seed)
        self.keyRing = keyRing
        self.wallClockOffset = wallClock &- now
        self.confirmedEvents = RecentRing(capacity: configuration.eventDedupeCapacity, seed: seed &* 0xbf58_476d_1ce4_e5b9)
        self.topics = RetainedTopics(limits: configuration)
        self.configuration = configuration
        self.nextHeartbeat = now + configuration.heartbeatMilliseconds
        self.latestNow = now
        let routeGrace = configuration.startupRouteGraceMilliseconds ?? configuration.heartbeatMilliseconds * configuration.liveness
        self.routeGraceEnds = routeGrace == 0 ? nil : now + routeGrace
        self.outcomes = RecentRing(capacity: configuration.dedupeCapacity, window: configuration.dedupeWindowMilliseconds,
                                    byteBudget: configuration.dedupeMaxBytes, seed: seed &* 0x9e37_79b9_7f4a_7c15)
    }

    /// When `tick` should next run.
    public var nextWakeup: UInt64 {
        min(nextHeartbeat, deadlines.min?.time ?? .max, routeGraceEnds ?? .max)
    }

    /// At the end of the start-up grace: parked requests whose target still has no route end NO_ROUTE.
    private mutating func endUnroutableWaiting() {
        for slot in waiting.all {
            let request = pending[slot]
            guard request.servingAgent == nil,
                  let (status, reason) = routeProblem(request.target, layer: request.requesterLayer, forwarded: request.caller != nil),
                  status == .noRoute else { continue }
            finish(slot, status: .noRoute, body: .text(reason))
        }
    }

    /// Ends the turn's messages: the CONFIRMS of the turn's batches join the outbox. Called before it is sent.
    public mutating func closeTurn() {
        if !confirmBatches.isEmpty { confirmBatches.flush(into: &outbox) }
    }

    /// Empties the outbox after the reactor has sent it, keeping its storage.
    public mutating func clearOutbox() {
        outbox.removeAll()
        publications.removeAll()
        journal.removeAll(keepingCapacity: true)
        topicMarks.removeAll()
    }

    /// Handles one decoded message from `peer`. `body` is the second frame, if there was one; `identity`
    /// is the connection's authenticated user id (ZeroMQ's `User-Id`), if CURVE is in use.
    public mutating func handle(_ header: Header, body: Payload?, from peer: PeerID, identity: String? = nil, now: UInt64) {
        latestNow = max(latestNow, now)
        if !contestedHellos.isEmpty { withdrawContestedHello(of: peer, after: header) }
        if case .hello(let hello) = header { return register(hello, peer: peer, identity: identity, now: now) }
        if case .gatewayHello(let hello) = header { return registerGateway(hello, peer: peer, identity: identity, now: now) }
        if case .status = header { return }  // answered by the reactor from `snapshot`
        if case .admin = header { return }  // answered through `administer`, which needs to know where the asker is
        if case .replay(let replay) = header { return self.replay(replay, to: peer, identity: identity) }  // read-only: no registration needed
        guard let agent = agents.handle(of: peer) else {
            return refuseUnregistered(header, peer: peer)
        }
        agents[current: agent].lastHeard = now
        switch header {
        case .heartbeat:
            break
        case .bye:
            unregister(agent, now: now)
        case .request(let request):
            guard !agents[current: agent].isGateway else {
                return refuse(status: .unauthorized, command: header.code.rawValue, callbackID: request.callbackID, peer: peer,
                              reason: "a gateway sends FORWARD, not REQUEST")
            }
            accept(request, body: body, from: agent, now: now)
        case .forward(let forward):
            guard agents[current: agent].isGateway else {
                return refuse(status: .unauthorized, command: header.code.rawValue, callbackID: forward.request.callbackID, peer: peer,
                              reason: "only an authenticated gateway may FORWARD: cross-layer calls go through the gateway")
            }
            accept(forward.request, body: body, from: agent, forwardedFor: (forward.caller, forward.callerLayer), now: now)
        case .progress(let progress):
            extend(progress, note: body, from: agent, now: now)
        case .reply(let reply):
            answer(reply, body: body, from: agent)
        case .cancel(let callbackID):
            cancel(callbackID, from: agent)
        case .publish(let publish):
            self.publish(publish, body: body, from: agents[current: agent].id, batchingConfirms: agents[current: agent].confirmsInBatches,
                         peer: peer, now: now)
        case .hello, .status, .admin, .replay, .gatewayHello:
            break
        case .welcome, .deliver, .extended, .revoke, .result, .error, .statusReply, .adminReply, .confirm, .confirms, .event, .gap,
             .replayEnd, .beacon:
            refuse(status: .badRequest, command: header.code.rawValue, callbackID: nil, peer: peer,
                   reason: "\(header.code) is sent by the broker, not to it")
        }
    }

    /// Refuses a message whose header could not be decoded (or that broke a framing rule).
    /// A REQUEST whose callback id could be read ends with RESULT BAD_REQUEST; anything else gets ERROR.
    public mutating func refuseMalformed(command: UInt8, callbackID: CallbackID?, from peer: PeerID, reason: String) {
        refuse(status: .badRequest, command: command, callbackID: callbackID, peer: peer, reason: reason)
    }

    /// Runs timers due at `now`: deadlines, heartbeats, liveness, outcome-cache expiry.
    public mutating func tick(now: UInt64) {
        latestNow = max(latestNow, now)
        while let due = deadlines.min, due.time <= now {
            let ticket = deadlines.removeMin().key
            guard let request = pending.request(ticket), request.deadline <= now else { continue }
            finish(ticket.slot, status: .timeout, body: .text("no answer within the deadline (\(request.attempts) attempt(s))"))
        }
        if let ends = routeGraceEnds, now >= ends {
            routeGraceEnds = nil
            endUnroutableWaiting()
        }
        if now >= nextHeartbeat {
            nextHeartbeat = now + configuration.heartbeatMilliseconds
            heartbeatAndCheckLiveness(now: now)
            sendBeaconsAndEvictEvents(now: now)
            outcomes.expire(now: now)
        }
    }

    /// The peer cannot be reached any more (the socket said so): its agent counts as gone at once.
    public mutating func peerUnreachable(_ peer: PeerID, now: UInt64) {
        latestNow = max(latestNow, now)
        guard let agent = agents.handle(of: peer) else { return }
        markAway(agent, now: now)
    }

    /// Whether an agent (or gateway) is registered on this connection.
    public func isRegistered(_ peer: PeerID) -> Bool { agents.handle(of: peer) != nil }

    /// Whether a gateway is registered on this connection.
    public func isGateway(_ peer: PeerID) -> Bool { agents.handle(of: peer).map { agents[current: $0].isGateway } ?? false }

    /// Requests accepted and not yet ended.
    public var pendingCount: Int { pending.count }

    /// Shutdown has begun: new requests are refused with UNAVAILABLE; pending ones may still finish.
    public mutating func beginDraining() {
        draining = true
    }

    /// Ends every pending request with UNAVAILABLE, then says HEARTBEAT and BYE to every live agent (broker
    /// shutting down). The HEARTBEAT keeps any RESULT from being directly followed by BYE, which means "not
    /// registered, send it again" (§6.1): these outcomes are final.
    public mutating func shutdown() {
        for slot in pending.occupied {
            finish(slot, status: .unavailable, body: .text("the broker is shutting down"))
        }
        for (_, agent) in agents.all where agent.isAlive {
            send(agent.peer, .heartbeat)
            send(agent.peer, .bye)
        }
    }

    mutating func send(_ peer: PeerID, _ header: Header, _ body: Outbound<Payload>.Body = .none) {
        outbox.append(to: peer, header: header, body: body)
    }

    /// Refuses a message from `peer` with `status`: a REQUEST (or FORWARD) whose callback id is new to the broker
    /// gets its one RESULT, anything else an ERROR naming the command; the reason goes in the body.
    public mutating func refuse(status: Status, command: UInt8, callbackID: CallbackID?, peer: PeerID, reason: String) {
        if status == .badRequest { counters.malformed += 1 }
        let isRequest = command == CommandCode.request.rawValue || command == CommandCode.forward.rawValue
        if isRequest, let callbackID, !isKnown(callbackID, from: peer) {
            counters.outcomes[Int(status.rawValue)] += 1
            send(peer, .result(ResultHeader(callbackID: callbackID, status: status, attempts: 0)), .text(reason))
        } else {
            send(peer, .error(ErrorNotice(status: status, command: command, callbackID: callbackID ?? .none)), .text(reason))
        }
    }

    /// The slot of the pending request with `key` (whose hash bits in `pendingIndex` are `tag`, when known).
    func pendingSlot(for key: RequestKey, tag: UInt32? = nil) -> Int32? {
        pendingIndex.value(tag: tag ?? pendingIndex.hashTag(of: key)) { slot in
            pending[slot].key.callbackID == key.callbackID && pending[slot].key.requester == key.requester
        }
    }

    /// Whether the peer's agent already has a request with this callback id (pending or finished): a
    /// refusal then goes out as ERROR, so that the request keeps its one RESULT.
    private func isKnown(_ callbackID: CallbackID, from peer: PeerID) -> Bool {
        guard let agent = agents.handle(of: peer) else { return false }
        let key = RequestKey(requester: agents[current: agent].id, callbackID: callbackID)
        return pendingSlot(for: key) != nil || outcomes.lookup(key) != nil
    }

    private mutating func refuseUnregistered(_ header: Header, peer: PeerID) {
        switch header {
        case .bye:
            return
        case .request, .forward:
            let callbackID: CallbackID
            switch header {
            case .request(let request): callbackID = request.callbackID
            case .forward(let forward): callbackID = forward.request.callbackID
            default: return
            }
            counters.outcomes[Int(Status.unavailable.rawValue)] += 1
            send(peer, .result(ResultHeader(callbackID: callbackID, status: .unavailable, attempts: 0)),
                 .text("not registered: send HELLO first"))
        default:
            break
        }
        send(peer, .bye)
    }
}
