import Logging
import HeapModule
import ParleyWire

/// One agent connection's side of the protocol, without I/O: registration, calls (held until registered,
/// resent on WELCOME with the same callback id, expired at their deadline), publishes, deliveries to serve,
/// subscriptions, heartbeats and silence. Owned by one thread; every input takes the monotonic time in
/// milliseconds, and every output is an `AgentEffect` taken with `takeEffects(into:)`.
///
/// Generic over what waits for a call and for a publish, so tests can drive it with plain values.
struct AgentCore<CallWaiter: Sendable, PublishWaiter: Sendable> {
    typealias Effect = AgentEffect<CallWaiter, PublishWaiter>

    /// A REQUEST waiting for its outcome.
    struct Call {
        var request: Request
        let body: [UInt8]
        let waiter: CallWaiter
        /// When the broker ends it with TIMEOUT.
        var brokerDeadline: UInt64
        /// When its timer is due: the broker's deadline, then the grace after it.
        var timerAt: UInt64
        /// Whether its REQUEST went to a server in some session: from then on only that server can end it.
        var sent = false
        /// Whether the application cancelled it: CANCEL follows the REQUEST in every later session too.
        var cancelling = false
    }

    /// A PUBLISH waiting for its CONFIRM.
    struct PendingPublish {
        let publish: Publish
        let body: [UInt8]
        let waiter: PublishWaiter
        let deadline: UInt64
    }

    /// Whose timer an entry of `timers` is.
    enum Timer {
        case call(CallbackID)
        case publish(CallbackID)
    }

    /// How long past the broker's deadline a call waits for the broker's TIMEOUT before ending it locally.
    static var grace: UInt64 { 2_000 }
    /// How often subscriptions ask for events they might have missed without noticing.
    static var syncInterval: UInt64 { 3_000 }
    /// The longest the driver sleeps without looking at the timers.
    static var maximumWait: UInt64 { 1_000 }

    let target: ConnectionTarget
    /// What registers the agent; its protocol 1.1 features are dropped for a server that speaks revision 1.0.
    var hello: Hello
    let logger: Logger
    var effects: [Effect] = []

    /// Registered in the current session (a WELCOME and no BYE since).
    var registered = false
    /// Stopped for good: registration refused or never completed while `connect()` waited.
    var isFinished = false
    var welcomes = 0
    var heartbeatMilliseconds: UInt64 = 1_000
    var liveness: UInt64 = 3
    /// Why the server refused this connection's registration, for calls made on it afterwards.
    var refusal: Outcome?
    /// While set and not registered, registration fails at this time.
    var connectDeadline: UInt64?
    var lastSent: UInt64
    var lastHeard: UInt64
    var lastHello: UInt64
    var lastSync: UInt64
    /// A RESULT UNAVAILABLE waiting to see whether a BYE follows.
    var held: HeldResult?

    var calls: [CallbackID: Call] = [:]
    var publishes: [CallbackID: PendingPublish] = [:]
    /// Deliveries whose handlers run in this session; a REPLY is sent only for these.
    var deliveries: Set<UInt64> = []
    var timers = Heap<Due<Timer>>()
    var table: SubscriptionTable

    /// A core that starts registering at `now`; `connectTimeout` (milliseconds) when `connect()` waits for it.
    init(target: ConnectionTarget, hello: Hello, subscriptionBacklogLimit: Int, connectTimeout: UInt64?, now: UInt64,
         logger: Logger) {
        self.target = target
        self.hello = hello
        self.logger = logger
        table = SubscriptionTable(backlogLimit: subscriptionBacklogLimit)
        lastSent = now
        lastHeard = now
        lastHello = now
        lastSync = now
        connectDeadline = connectTimeout.map { now + $0 }
        sendHello(now: now)
    }

    /// Swaps the effects since the last call into `buffer`, which must be empty; the core keeps `buffer`'s storage
    /// for the next ones, so a driver that empties and hands back the same two arrays never allocates.
    mutating func takeEffects(into buffer: inout [Effect]) {
        swap(&effects, &buffer)
    }

    /// Whether some consumer is too far behind for the driver to read more live events now.
    var isBackedUp: Bool { table.isBackedUp }

    /// Applies one submission from the application.
    mutating func submit(_ submission: Submission<CallWaiter, PublishWaiter>, now: UInt64) {
        switch submission {
        case .call(let request, let body, let waiter):
            let deadline = now + UInt64(request.timeoutMilliseconds)
            if let previous = calls[request.callbackID] {
                effects.append(.finishCall(previous.waiter, Outcome(status: .badRequest, body: Array("the callback id is in use by an open call".utf8), attempts: 0)))
            }
            calls[request.callbackID] = Call(request: request, body: body, waiter: waiter, brokerDeadline: deadline, timerAt: deadline,
                                             sent: registered)
            schedule(.call(request.callbackID), at: deadline)
            if registered { send(.request(request), body: body, now: now) }
        case .cancel(let callbackID):
            guard var call = calls[callbackID] else { return }
            if !call.sent {
                // Never sent: nothing runs it, so it ends here.
                calls[callbackID] = nil
                effects.append(.finishCall(call.waiter, .cancelledLocally))
                return
            }
            // The server may be running it (from this session or an earlier one): its RESULT ends the call.
            call.cancelling = true
            calls[callbackID] = call
            if registered { send(.cancel(callbackID), now: now) }
        case .publish(let publish, let body, let waiter, let timeout):
            let deadline = now + timeout
            publishes[publish.eventID] = PendingPublish(publish: publish, body: body, waiter: waiter, deadline: deadline)
            schedule(.publish(publish.eventID), at: deadline)
            if registered { send(.publish(publish), body: body, now: now) }
        case .reply(let deliveryID, var response):
            guard deliveries.remove(deliveryID) != nil else { return }
            if !response.status.isHandlerStatus { response = .fail("handler answered \(response.status)") }
            send(.reply(Reply(deliveryID: deliveryID, status: response.status)), body: response.body, now: now)
        case .progress(let report, let note):
            guard deliveries.contains(report.deliveryID) else { return }
            send(.progress(report), body: note, now: now)
        case .subscribe(let id, let entry):
            let (prefixes, replays) = table.add(id, entry)
            for prefix in prefixes { effects.append(.subscribe(prefix: prefix, true)) }
            send(replays)
        case .unsubscribe(let id):
            for prefix in table.remove(id) { effects.append(.subscribe(prefix: prefix, false)) }
        }
    }

    /// The driver replaced the sockets after `.reconnect`: subscribe the fresh events socket and register again.
    mutating func linkReplaced(now: UInt64) {
        for prefix in table.prefixes { effects.append(.subscribe(prefix: prefix, true)) }
        sendHello(now: now)
    }

    /// The connection stops (the application closed it, or the core finished): every open call ends with
    /// `closed` (or the refusal), every publish with `notConnected`, every handler is cancelled and every
    /// subscription ends. Returns BYE to send when the server may still be listening.
    mutating func close() {
        let closed = refusal ?? Outcome(status: .unavailable, body: Array("the agent was closed".utf8), attempts: 0)
        for call in calls.values { effects.append(.finishCall(call.waiter, closed)) }
        for pending in publishes.values { effects.append(.finishPublish(pending.waiter, .failure(.notConnected))) }
        for deliveryID in deliveries { effects.append(.revoke(deliveryID: deliveryID)) }
        calls.removeAll()
        publishes.removeAll()
        deliveries.removeAll()
        timers = Heap()
        table.removeAll()
        registered = false
        isFinished = true
    }

    // MARK: - Helpers shared by the extensions

    mutating func send(_ header: Header, body: [UInt8]? = nil, now: UInt64) {
        effects.append(.send(header, body: body))
        lastSent = now
    }

    /// REPLAYs are not a sign of life to the broker: they leave the heartbeat schedule alone.
    mutating func send(_ replays: [Replay]) {
        for replay in replays { effects.append(.send(.replay(replay), body: nil)) }
    }

    mutating func sendHello(now: UInt64) {
        send(.hello(hello), now: now)
        lastHello = now
        lastHeard = now
    }

    /// Adds a timer; rebuilds the heap from the live calls and publishes when stale entries outnumber them.
    mutating func schedule(_ timer: Timer, at time: UInt64) {
        timers.insert(Due(time, timer))
        guard timers.count > 2 * (calls.count + publishes.count) + 1_024 else { return }
        timers = Heap()
        for (id, call) in calls { timers.insert(Due(call.timerAt, .call(id))) }
        for (id, pending) in publishes { timers.insert(Due(pending.deadline, .publish(id))) }
    }

    /// Forgets the session's deliveries (the broker delivers them again, with new ids, if they still matter)
    /// and cancels their handlers, so they can never answer a new delivery.
    mutating func voidDeliveries() {
        for deliveryID in deliveries { effects.append(.revoke(deliveryID: deliveryID)) }
        deliveries.removeAll()
    }

    mutating func setRegistered(_ value: Bool) {
        registered = value
        if value { connectDeadline = nil }
    }

    mutating func finish(_ error: ParleyError) {
        effects.append(.registrationFailed(error))
        close()
    }
}
