import ParleyPolicy
import ParleyWire
import ZeroMQ

/// The gateway's decisions as a sans-I/O state machine: callers register on the frontend, each cross-layer
/// request is checked against the policy and the caller's rate, audited, and forwarded to the broker;
/// outcomes come back the same way. The reactor around it does the I/O. Not thread-safe: one owner.
public struct GatewayCore {
    public let configuration: GatewayConfiguration
    /// The policy in force (replaced by `reload`).
    public internal(set) var policy: Policy
    /// Messages for callers; the reactor sends them and calls `clearOutboxes()`.
    public internal(set) var frontOutbox: [FrontOutbound] = []
    /// Messages for the broker.
    public internal(set) var backOutbox: [BackOutbound] = []
    /// Decisions to append to the audit trail; `settleAudit` acts on them once the reactor has tried.
    public internal(set) var audit: [AuditRecord] = []
    /// Whether the broker has welcomed the gateway (cross-layer calls fail with UNAVAILABLE until then).
    public internal(set) var backendRegistered = false
    /// Things the reactor should log (refused registrations), emptied by `clearOutboxes()`.
    public internal(set) var notices: [String] = []
    /// The broker's heartbeat interval from its WELCOME: the reactor counts the broker silent after
    /// `liveness` of these (or of its own interval, whichever is longer).
    public internal(set) var brokerHeartbeatMilliseconds: UInt64 = 0
    /// Set when the gateway lost its registration with the broker (for the reactor to log), cleared by `clearOutboxes()`.
    public internal(set) var brokerLoss: BrokerLoss?

    let keyRing: KeyRing?
    let wallClockOffset: UInt64
    /// Random per gateway process, the same across reconnects to the broker.
    let instance = UInt64.random(in: 1...UInt64.max)
    /// Random per gateway process: backend callback ids cannot be predicted (or collided) by callers.
    let salt = (UInt64.random(in: 0...UInt64.max), UInt64.random(in: 0...UInt64.max))
    var callers: [String: CallerRecord] = [:]
    var callerByPeer: [PeerID: String] = [:]
    /// HELLOs claiming a live caller's id, waiting for `settleContestedHellos`.
    var contestedHellos: [(hello: Hello, peer: PeerID, identity: String?)] = []
    var forwards: [CallbackID: ForwardRecord] = [:]
    /// No forward gives up before this: kept as forwards begin, exact again after `tick` looked at them all.
    var forwardsDue: UInt64 = .max
    /// The effects of the decisions in `audit`, in order.
    var awaitingAudit: [AwaitingAudit] = []
    var rates = RateLimiter()
    var nextHeartbeat: UInt64
    var nextCallerHeartbeat: UInt64
    var latestNow: UInt64

    /// A gateway enforcing `policy`; with `keyRing`, callers' ids and layers come from their CURVE keys.
    public init(configuration: GatewayConfiguration, policy: Policy, keyRing: KeyRing?, now: UInt64, wallClock: UInt64) {
        self.configuration = configuration
        self.policy = policy
        self.keyRing = keyRing
        self.wallClockOffset = wallClock &- now
        self.nextHeartbeat = now + configuration.heartbeatMilliseconds
        self.nextCallerHeartbeat = now + configuration.heartbeatMilliseconds
        self.latestNow = now
    }

    /// Installs a new, already validated policy. Calls in flight keep the decision they got.
    public mutating func reload(_ newPolicy: Policy) {
        policy = newPolicy
    }

    /// When `tick` should next run.
    public var nextWakeup: UInt64 {
        min(nextHeartbeat, forwardsDue)
    }

    public mutating func clearOutboxes() {
        frontOutbox.removeAll(keepingCapacity: true)
        backOutbox.removeAll(keepingCapacity: true)
        notices.removeAll()
        brokerLoss = nil
    }

    /// The link to the broker is (re)established, or the broker asked for it: register with it.
    public mutating func backendConnected() {
        backendRegistered = false
        backOutbox.append(BackOutbound(header: .gatewayHello(GatewayHello(instance: instance, gatewayID: configuration.gatewayID,
                                                                          token: configuration.gatewayToken())), body: .none))
    }

    /// Runs timers: heartbeats to callers and the broker, caller liveness, calls the broker never answered.
    public mutating func tick(now: UInt64) {
        latestNow = max(latestNow, now)
        if now >= forwardsDue {
            forwardsDue = .max
            for (id, record) in forwards {
                guard record.giveUpAt <= now else {
                    forwardsDue = min(forwardsDue, record.giveUpAt)
                    continue
                }
                forwards[id] = nil
                answer(record, status: .timeout, body: .text("no outcome from the broker within the deadline"))
            }
        }
        guard now >= nextHeartbeat else { return }
        // As often as the broker expects it, when the broker's interval is the shorter one.
        let interval = brokerHeartbeatMilliseconds > 0 ? min(configuration.heartbeatMilliseconds, brokerHeartbeatMilliseconds)
                                                       : configuration.heartbeatMilliseconds
        let callersDue = now >= nextCallerHeartbeat
        nextHeartbeat = now + interval
        backOutbox.append(BackOutbound(header: .heartbeat, body: .none))
        guard callersDue else { return }
        nextCallerHeartbeat = now + configuration.heartbeatMilliseconds
        let silence = configuration.heartbeatMilliseconds * configuration.liveness
        for record in callers.values {
            if now &- record.lastHeard > silence {
                // Rate buckets stay: going quiet and registering again must not refill them.
                callers[record.id] = nil
                callerByPeer[record.peer] = nil
            } else {
                frontOutbox.append(FrontOutbound(peer: record.peer, header: .heartbeat, body: .none))
            }
        }
    }

    func send(_ peer: PeerID, _ header: Header, _ body: GatewayBody = .none) -> FrontOutbound {
        FrontOutbound(peer: peer, header: header, body: body)
    }

    /// Refuses a message: a REQUEST with a readable callback id ends with RESULT, unless the caller already
    /// has that call in flight (then ERROR, so the call keeps its one RESULT); anything else gets ERROR.
    /// `command` is the refused message's command byte (0 when unreadable).
    public mutating func refuse(_ peer: PeerID, status: Status, command: UInt8, callbackID: CallbackID?, reason: String) {
        let inFlight = callbackID.map { id in
            callerByPeer[peer].map { forwards[BackendCallbackIDs(salt: salt, caller: $0).id(for: id)] != nil } ?? false
        } ?? false
        if command == CommandCode.request.rawValue, let callbackID, !inFlight {
            frontOutbox.append(send(peer, .result(ResultHeader(callbackID: callbackID, status: status, attempts: 0)), .text(reason)))
        } else {
            frontOutbox.append(send(peer, .error(ErrorNotice(status: status, command: command, callbackID: callbackID ?? .none)),
                                    .text(reason)))
        }
    }

    /// Sends a call's outcome to its caller's current connection.
    mutating func answer(_ record: ForwardRecord, status: Status, attempts: UInt8 = 0, body: GatewayBody) {
        guard let caller = callers[record.caller] else { return }
        frontOutbox.append(send(caller.peer, .result(ResultHeader(callbackID: record.callerCallbackID, status: status,
                                                                   attempts: attempts)), body))
    }
}
