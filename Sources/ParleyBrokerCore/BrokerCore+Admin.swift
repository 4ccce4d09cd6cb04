import ParleyWire

/// What one ADMIN command did, for the broker's audit log.
public struct AdminRecord: Sendable, Equatable {
    public var action: AdminAction
    /// The agent id or topic named, as sent.
    public var target: String
    /// The asking connection's authenticated identity (CURVE `User-Id`), nil without CURVE.
    public var identity: String?
    /// The ADMIN_REPLY's status: OK, UNAUTHORIZED, NO_ROUTE, BAD_REQUEST or UNAVAILABLE (or the ERROR OVERLOADED a
    /// question over ADMIN's rates got instead).
    public var status: Status
    /// The ADMIN_REPLY's text: what was done, or why not.
    public var detail: String

    public init(action: AdminAction, target: String, identity: String?, status: Status, detail: String) {
        self.action = action
        self.target = target
        self.identity = identity
        self.status = status
        self.detail = detail
    }
}

extension BrokerCore {
    /// ADMIN (docs/PROTOCOL.md §6.15): evicts an agent or purges a topic's retention, when the asker may
    /// administer the broker (``mayAdminister(identity:loopback:)``). Sends ADMIN_REPLY to `peer` and returns what
    /// happened, for the audit log. Needs no registration; never touches a request or an event it was not asked to.
    /// `journalHasRoom` says whether the data directory can take a purge's journal record (a purge it cannot take is
    /// refused with UNAVAILABLE: an unjournaled purge would be undone by a restart).
    public mutating func administer(_ command: AdminCommand, from peer: PeerID, identity: String?, loopback: Bool,
                                    journalHasRoom: Bool = true, now: UInt64) -> AdminRecord {
        latestNow = max(latestNow, now)
        let (status, detail): (Status, String)
        if !mayAdminister(identity: identity, loopback: loopback) {
            (status, detail) = (.unauthorized, keyRing == nil
                ? "ADMIN is accepted only from the broker's own host (loopback) without CURVE"
                : "identity '\(identity ?? "")' is not marked admin in the keys file")
        } else {
            switch command.action {
            case .evict: (status, detail) = evict(command.target, now: now)
            case .purge: (status, detail) = purge(command.target, journalHasRoom: journalHasRoom)
            }
        }
        send(peer, .adminReply(AdminReply(status: status, action: command.action)), .text(detail))
        return AdminRecord(action: command.action, target: command.target, identity: identity, status: status, detail: detail)
    }

    /// Whether an ADMIN may be obeyed: with CURVE, from an identity whose keys entry says `admin: true`; without
    /// CURVE (development), only from the loopback interface, where `loopback` says the connection comes from.
    public func mayAdminister(identity: String?, loopback: Bool) -> Bool {
        guard let keyRing else { return loopback }
        return identity.flatMap(keyRing.entry(forID:))?.admin == true
    }

    /// Unregisters the agent as if it had sent BYE (§6.13); a live one is told HEARTBEAT then BYE, so that it knows
    /// it is no longer registered (a running agent may HELLO again: eviction is not a ban).
    private mutating func evict(_ id: String, now: UInt64) -> (Status, String) {
        if let problem = Names.agentProblem(id) { return (.badRequest, "invalid agent id: \(problem)") }
        guard let handle = agents.handle(of: id), let record = agents[handle] else {
            return (.noRoute, "no agent '\(id)' is registered")
        }
        if record.isGateway {
            return (.badRequest, "'\(id)' is a gateway, not an agent: evicting it would only fail its cross-layer calls until "
                    + "it registers again; stop or restart parley-gateway instead")
        }
        let serving = record.inFlight
        unregister(handle, now: now)
        if record.isAlive {
            send(record.peer, .heartbeat)
            send(record.peer, .bye)
        }
        return (.ok, "agent '\(id)' evicted (it was \(record.isAlive ? "alive" : "away"), serving \(serving) request(s), "
                + "which go to other agents or wait)")
    }

    /// Drops every event the topic retains; its sequence goes on, so a REPLAY of them gets GAP.
    private mutating func purge(_ name: String, journalHasRoom: Bool) -> (Status, String) {
        guard let topic = Topic(name) else { return (.badRequest, "invalid topic: '\(name)' is not callback.<agent>.<event>") }
        guard topics[topic] != nil else { return (.noRoute, "no topic '\(name)' (nothing published on it, or forgotten)") }
        guard journalHasRoom || !configuration.journaling else {
            return (.unavailable, "the broker's data directory is full: the purge cannot be journaled, so nothing was purged; "
                    + "try again when there is room")
        }
        let purged = topics.purge(topic)
        if configuration.journaling { topicMarks.append(.purged(topic, through: purged.latest)) }
        return (.ok, "purged \(purged.events) event(s), \(purged.bytes) payload bytes, of \(name); its next event is "
                + "#\(purged.latest + 1)")
    }
}
