import ParleyWire

/// What the async side and the reactor thread share, behind the connection's mutex.
struct ConnectionState {
    var outgoing: [OutgoingMessage] = []
    var calls: [CallbackID: PendingCall] = [:]
    var publishes: [CallbackID: PendingPublish] = [:]
    var subscriptionChanges: [SubscriptionChange] = []
    var nextSubscriptionID = 1
    var registered = false
    /// WELCOMEs received so far: after the first, a WELCOME starts a new session.
    var welcomes = 0
    var reactorRunning = false
    var stopping = false
    var heartbeatMilliseconds: UInt64 = 1_000
    var liveness: UInt64 = 3
    var welcomeWaiter: CheckedContinuation<Void, Error>?
    /// Why the server refused this connection's registration, for calls made on it afterwards.
    var refusal: Outcome?
    var stoppedWaiters: [CheckedContinuation<Void, Never>] = []
    var handler: RequestHandler?
    var handlerTasks: [UInt64: Task<Void, Never>] = [:]

    /// Forgets the session's deliveries (the broker delivers them again, with new ids, if they still matter) and
    /// returns their handlers, to cancel outside the lock.
    mutating func voidDeliveries() -> [Task<Void, Never>] {
        defer { handlerTasks.removeAll() }
        return Array(handlerTasks.values)
    }
}

/// A REQUEST waiting for its outcome.
struct PendingCall {
    let request: Request
    let body: [UInt8]
    let continuation: CheckedContinuation<Outcome, Never>
    /// When the broker will end it with TIMEOUT.
    var brokerDeadline: UInt64
    /// When the SDK gives up waiting for the broker.
    var localDeadline: UInt64
}

/// A PUBLISH waiting for its CONFIRM; resent with the same event id after a reconnect.
struct PendingPublish {
    let publish: Publish
    let body: [UInt8]
    let continuation: CheckedContinuation<Confirm, Error>
    let deadline: UInt64
}

/// A subscription to add or remove, applied by the reactor thread.
enum SubscriptionChange {
    case add(Int, SubscriptionTable.Entry)
    case remove(Int)
}

/// A message queued for the broker, encoded.
struct OutgoingMessage: Sendable {
    let header: [UInt8]
    let body: [UInt8]?

    init(_ header: Header, body: [UInt8]? = nil) {
        self.header = HeaderEncoder.encode(header)
        self.body = body
    }
}

/// The reactor's timestamps (monotonic milliseconds).
struct ReactorClock {
    var lastSent: UInt64
    var lastHeard: UInt64
    var lastHello: UInt64
    /// When subscriptions last asked the broker for anything they might have missed.
    var lastSync: UInt64
    /// Whether live events were left unread on the last turn because a consumer was behind.
    var wasBackedUp = false
    /// While set and not registered, `connect()` fails at this time.
    var connectDeadline: UInt64?

    init(now: UInt64, connectTimeout: Duration?) {
        lastSent = now
        lastHeard = now
        lastHello = now
        lastSync = now
        connectDeadline = connectTimeout.map { now + $0.wholeMilliseconds }
    }
}
