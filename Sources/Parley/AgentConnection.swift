import Foundation
import Logging
import Synchronization
import ZeroMQ

/// The agent's link to the broker: a reactor thread that owns the DEALER socket, and the state it shares
/// with async callers behind a mutex. Async code never touches the socket; it queues frames and waits on
/// continuations that the reactor resumes. Thread-safe.
final class AgentConnection: Sendable {
    let configuration: AgentConfiguration
    /// Random per process, the same across reconnects: lets the broker tell a reconnect from an impostor.
    let instance = UInt64.random(in: 1...UInt64.max)
    let logger: Logger
    private let wake: WakeSignal
    private let state = Mutex(ConnectionState())

    init(configuration: AgentConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.wake = try WakeSignal()
    }

    // MARK: - Async side

    /// Starts the reactor thread and waits for WELCOME.
    func start() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            state.withLock { $0.welcomeWaiter = continuation }
            let thread = Thread { [self] in runReactor() }
            thread.name = "parley-agent-\(configuration.id)"
            thread.start()
        }
    }

    /// Says BYE, stops the reactor thread and ends every open call with UNAVAILABLE.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let running = state.withLock { state -> Bool in
                guard state.reactorRunning else { return false }
                state.stopping = true
                state.stoppedWaiters.append(continuation)
                return true
            }
            if running { wake.signal() } else { continuation.resume() }
        }
    }

    /// Sets the handler for delivered requests.
    func setHandler(_ handler: @escaping RequestHandler) {
        state.withLock { $0.handler = handler }
    }

    /// Sends one REQUEST and waits for its outcome. Swift task cancellation sends CANCEL.
    func call(_ request: Request, body: [UInt8]) async -> Outcome {
        let callbackID = request.callbackID
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let now = MonotonicClock.milliseconds()
                let deadline = now + UInt64(request.timeoutMilliseconds)
                let call = PendingCall(request: request, body: body, continuation: continuation,
                                       brokerDeadline: deadline, localDeadline: deadline + Self.grace)
                let accepted = state.withLock { state -> Bool in
                    guard state.reactorRunning, !state.stopping else { return false }
                    state.calls[callbackID] = call
                    if state.registered { state.outgoing.append(OutgoingMessage(.request(request), body: body)) }
                    return true
                }
                if accepted {
                    wake.signal()
                } else {
                    continuation.resume(returning: Outcome(status: .unavailable, body: Array("the agent is not connected".utf8), attempts: 0))
                }
            }
        } onCancel: {
            enqueue(.cancel(callbackID))
        }
    }

    /// Queues a message for the broker (REPLY, PROGRESS, CANCEL …).
    func enqueue(_ header: Header, body: [UInt8]? = nil) {
        state.withLock { $0.outgoing.append(OutgoingMessage(header, body: body)) }
        wake.signal()
    }

    // MARK: - Reactor thread

    /// How long past the broker's deadline a call waits for the broker's TIMEOUT before ending it locally.
    private static let grace: UInt64 = 2_000

    private func runReactor() {
        state.withLock { $0.reactorRunning = true }
        do {
            let context = try Context()
            var link = try BrokerLink(context: context, endpoint: configuration.brokerEndpoint, wake: wake)
            var clock = ReactorClock(now: MonotonicClock.milliseconds(), connectTimeout: configuration.connectTimeout)
            sendHello(&link, &clock)
            while try step(&link, &clock, context: context) {}
            link.sendBestEffort(OutgoingMessage(.bye))
            link.close()
        } catch {
            logger.error("agent reactor failed", metadata: ["agent": "\(configuration.id)", "error": "\(error)"])
        }
        finishReactor()
    }

    /// One turn of the loop: send queued frames, run timers, wait, read. False when stopping.
    private func step(_ link: inout BrokerLink, _ clock: inout ReactorClock, context: Context) throws -> Bool {
        let (outgoing, stopping, registered, heartbeat, liveness) = state.withLock { state in
            defer { state.outgoing.removeAll(keepingCapacity: true) }
            return (state.outgoing, state.stopping, state.registered, state.heartbeatMilliseconds, state.liveness)
        }
        if stopping { return false }
        if registered { clock.connectDeadline = nil }
        for message in outgoing { link.sendBestEffort(message) }
        if !outgoing.isEmpty { clock.lastSent = MonotonicClock.milliseconds() }

        var now = MonotonicClock.milliseconds()
        if !registered, clock.connectDeadline != nil, now >= clock.connectDeadline! {
            failRegistration(ParleyError.brokerUnreachable(endpoint: configuration.brokerEndpoint))
            return false
        }
        if now &- clock.lastHeard > heartbeat * liveness, now &- clock.lastHello > heartbeat * liveness {
            // The broker went silent: start over on a fresh socket and register again.
            logger.info("broker silent; reconnecting", metadata: ["agent": "\(configuration.id)"])
            state.withLock { $0.registered = false }
            link.close()
            link = try BrokerLink(context: context, endpoint: configuration.brokerEndpoint, wake: wake)
            sendHello(&link, &clock)
        } else if now &- clock.lastSent >= heartbeat {
            link.sendBestEffort(OutgoingMessage(.heartbeat))
            clock.lastSent = now
        }
        let nextCallDeadline = expireCalls(now: now)
        let untilHeartbeat = heartbeat - min(heartbeat, now &- clock.lastSent)
        let wait = min(untilHeartbeat, nextCallDeadline.map { $0 &- now } ?? .max, 1_000)
        try link.poll(timeoutMilliseconds: Int(wait))
        now = MonotonicClock.milliseconds()
        while let frames = try link.receive() {
            clock.lastHeard = now
            handle(frames, link: &link, clock: &clock)
        }
        return true
    }

    private func sendHello(_ link: inout BrokerLink, _ clock: inout ReactorClock) {
        let hello = Hello(instance: instance, agentID: configuration.id, layer: configuration.layer,
                          capabilities: configuration.capabilities)
        link.sendBestEffort(OutgoingMessage(.hello(hello)))
        let now = MonotonicClock.milliseconds()
        clock.lastHello = now
        clock.lastSent = now
        clock.lastHeard = now
    }

    private func handle(_ frames: [Message], link: inout BrokerLink, clock: inout ReactorClock) {
        let header: Header
        do {
            header = try HeaderDecoder.decode(frames[0].bytes)
        } catch {
            logger.warning("undecodable message from the broker", metadata: ["error": "\(error)"])
            return
        }
        let body = frames.count > 1 ? frames[1].bytes : []
        switch header {
        case .welcome(let welcome):
            welcomed(welcome)
        case .bye:
            state.withLock { $0.registered = false }
            sendHello(&link, &clock)
        case .result(let result):
            let call = state.withLock { $0.calls.removeValue(forKey: result.callbackID) }
            call?.continuation.resume(returning: Outcome(status: result.status, body: body, attempts: Int(result.attempts)))
        case .extended(let extended):
            let now = MonotonicClock.milliseconds()
            state.withLock { state in
                guard var call = state.calls[extended.callbackID] else { return }
                call.brokerDeadline = now + UInt64(extended.timeoutMilliseconds)
                call.localDeadline = call.brokerDeadline + Self.grace
                state.calls[extended.callbackID] = call
            }
        case .deliver(let deliver):
            serve(deliver, body: body)
        case .revoke(let deliveryID):
            state.withLock { $0.handlerTasks.removeValue(forKey: deliveryID) }?.cancel()
        case .error(let notice):
            refused(notice, reason: String(decoding: body, as: UTF8.self))
        case .heartbeat, .statusReply, .hello, .request, .progress, .cancel, .reply, .status:
            break
        }
    }

    private func welcomed(_ welcome: Welcome) {
        let now = MonotonicClock.milliseconds()
        let waiter = state.withLock { state -> CheckedContinuation<Void, Error>? in
            state.registered = true
            state.heartbeatMilliseconds = UInt64(max(welcome.heartbeatMilliseconds, 10))
            state.liveness = UInt64(max(welcome.liveness, 1))
            // Resend every open call with the same callback id: the broker de-duplicates.
            for call in state.calls.values {
                var request = call.request
                request.timeoutMilliseconds = UInt32(clamping: max(call.brokerDeadline &- now, 1))
                state.outgoing.append(OutgoingMessage(.request(request), body: call.body))
            }
            defer { state.welcomeWaiter = nil }
            return state.welcomeWaiter
        }
        waiter?.resume()
    }

    private func refused(_ notice: ErrorNotice, reason: String) {
        if notice.command == CommandCode.hello.rawValue {
            failRegistration(ParleyError.registrationRefused(notice.status, reason: reason))
            logger.error("registration refused", metadata: ["agent": "\(configuration.id)", "reason": "\(reason)"])
            return
        }
        let call = notice.callbackID == .none ? nil : state.withLock { $0.calls.removeValue(forKey: notice.callbackID) }
        if let call {
            call.continuation.resume(returning: Outcome(status: notice.status, body: Array(reason.utf8), attempts: 0))
        } else {
            logger.warning("broker error", metadata: ["status": "\(notice.status)", "reason": "\(reason)"])
        }
    }

    /// Fails a pending `connect()`; a refused registration also stops the reactor.
    private func failRegistration(_ error: Error) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Error>? in
            state.stopping = true
            defer { state.welcomeWaiter = nil }
            return state.welcomeWaiter
        }
        waiter?.resume(throwing: error)
    }

    private func serve(_ deliver: Deliver, body: [UInt8]) {
        let incoming = IncomingRequest(kind: deliver.kind, callbackID: deliver.callbackID, attempt: Int(deliver.attempt),
                                       requester: deliver.requester, requesterLayer: deliver.requesterLayer,
                                       contentType: deliver.contentType, body: body,
                                       timeout: .milliseconds(deliver.timeoutMilliseconds),
                                       deliveryID: deliver.deliveryID, connection: self)
        let agentID = configuration.id
        state.withLock { shared in
            let handler = shared.handler
            shared.handlerTasks[deliver.deliveryID] = Task { [self] in
                var response: Response
                if let handler {
                    do { response = try await handler(incoming) } catch { response = .fail("\(error)") }
                } else {
                    response = .decline("agent '\(agentID)' serves no requests")
                }
                if !response.status.isHandlerStatus { response = .fail("handler answered \(response.status)") }
                let revoked = state.withLock { $0.handlerTasks.removeValue(forKey: deliver.deliveryID) == nil }
                if !revoked { enqueue(.reply(Reply(deliveryID: deliver.deliveryID, status: response.status)), body: response.body) }
            }
        }
    }

    /// Ends calls whose broker never answered (past deadline + grace) with TIMEOUT; returns the next local deadline.
    private func expireCalls(now: UInt64) -> UInt64? {
        let (expired, next) = state.withLock { state -> ([PendingCall], UInt64?) in
            var expired: [PendingCall] = []
            var next: UInt64?
            for (id, call) in state.calls {
                if call.localDeadline <= now {
                    expired.append(call)
                    state.calls[id] = nil
                } else {
                    next = min(next ?? .max, call.localDeadline)
                }
            }
            return (expired, next)
        }
        for call in expired {
            call.continuation.resume(returning: Outcome(status: .timeout,
                                                        body: Array("no answer from the broker within the deadline".utf8), attempts: 0))
        }
        return next
    }

    private func finishReactor() {
        let (calls, tasks, waiters, welcome) = state.withLock { state in
            defer {
                state.calls.removeAll()
                state.handlerTasks.removeAll()
                state.stoppedWaiters.removeAll()
                state.welcomeWaiter = nil
                state.reactorRunning = false
                state.registered = false
            }
            return (Array(state.calls.values), Array(state.handlerTasks.values), state.stoppedWaiters, state.welcomeWaiter)
        }
        tasks.forEach { $0.cancel() }
        for call in calls {
            call.continuation.resume(returning: Outcome(status: .unavailable, body: Array("the agent was closed".utf8), attempts: 0))
        }
        welcome?.resume(throwing: ParleyError.notConnected)
        waiters.forEach { $0.resume() }
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

/// A message queued for the broker, encoded.
struct OutgoingMessage: Sendable {
    let header: [UInt8]
    let body: [UInt8]?

    init(_ header: Header, body: [UInt8]? = nil) {
        self.header = HeaderEncoder.encode(header)
        self.body = body
    }
}

/// What the async side and the reactor thread share.
struct ConnectionState {
    var outgoing: [OutgoingMessage] = []
    var calls: [CallbackID: PendingCall] = [:]
    var registered = false
    var reactorRunning = false
    var stopping = false
    var heartbeatMilliseconds: UInt64 = 1_000
    var liveness: UInt64 = 3
    var welcomeWaiter: CheckedContinuation<Void, Error>?
    var stoppedWaiters: [CheckedContinuation<Void, Never>] = []
    var handler: RequestHandler?
    var handlerTasks: [UInt64: Task<Void, Never>] = [:]
}

/// The reactor's timestamps (monotonic milliseconds).
struct ReactorClock {
    var lastSent: UInt64
    var lastHeard: UInt64
    var lastHello: UInt64
    /// While set and not registered, `connect()` fails at this time.
    var connectDeadline: UInt64?

    init(now: UInt64, connectTimeout: Duration) {
        lastSent = now
        lastHeard = now
        lastHello = now
        connectDeadline = now + connectTimeout.wholeMilliseconds
    }
}
