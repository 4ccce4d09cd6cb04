import Foundation
import Logging
import Synchronization
import ZeroMQ

/// The agent's link to the broker: a reactor thread that owns the sockets, and the state it shares
/// with async callers behind a mutex. Async code never touches a socket; it queues work and waits on
/// continuations that the reactor resumes. Thread-safe.
final class AgentConnection: Sendable {
    let configuration: AgentConfiguration
    let target: ConnectionTarget
    /// Random per process, the same across reconnects: lets the broker tell a reconnect from an impostor.
    let instance = UInt64.random(in: 1...UInt64.max)
    let logger: Logger
    let wake: WakeSignal
    let state = Mutex(ConnectionState())

    /// How long past the broker's deadline a call waits for the broker's TIMEOUT before ending it locally.
    static let grace: UInt64 = 2_000

    init(configuration: AgentConfiguration, target: ConnectionTarget, logger: Logger) throws {
        self.configuration = configuration
        self.target = target
        self.logger = logger
        self.wake = try WakeSignal()
    }

    /// Starts the reactor thread and waits for WELCOME.
    func start() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            state.withLock { $0.welcomeWaiter = continuation }
            startReactor(connectTimeout: configuration.connectTimeout)
        }
    }

    /// Starts the reactor thread without waiting: it keeps trying to register; calls made meanwhile wait
    /// and end with UNAVAILABLE at their deadline if it never does (fail closed).
    func startInBackground() {
        startReactor(connectTimeout: nil)
    }

    private func startReactor(connectTimeout: Duration?) {
        // Running from now on, so that calls made before the thread is scheduled wait for it.
        state.withLock { $0.reactorRunning = true }
        let thread = Thread { [self] in runReactor(connectTimeout: connectTimeout) }
        thread.name = "parley-\(target.name)-\(configuration.id)"
        thread.start()
    }

    /// Says BYE, stops the reactor thread, ends every open call with UNAVAILABLE and every subscription.
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
                let deadline = MonotonicClock.milliseconds() + UInt64(request.timeoutMilliseconds)
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
                    let refusal = state.withLock { $0.refusal }
                    continuation.resume(returning: refusal
                        ?? Outcome(status: .unavailable, body: Array("the agent is not connected to the \(target.name)".utf8), attempts: 0))
                }
            }
        } onCancel: {
            enqueue(.cancel(callbackID))
        }
    }

    /// Sends one PUBLISH and waits for its CONFIRM (resending it after reconnects, same event id).
    func publish(_ publish: Publish, body: [UInt8], timeout: Duration) async throws -> Confirm {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Confirm, Error>) in
            let pending = PendingPublish(publish: publish, body: body, continuation: continuation,
                                         deadline: MonotonicClock.milliseconds() + timeout.wholeMilliseconds)
            let accepted = state.withLock { state -> Bool in
                guard state.reactorRunning, !state.stopping else { return false }
                state.publishes[publish.eventID] = pending
                if state.registered { state.outgoing.append(OutgoingMessage(.publish(publish), body: body)) }
                return true
            }
            if accepted { wake.signal() } else { continuation.resume(throwing: ParleyError.notConnected) }
        }
    }

    /// Adds a subscription; the reactor subscribes the events socket and starts tracking sequences.
    func subscribe(_ selectors: [TopicSelector], from start: SubscriptionStart) -> EventSubscription {
        let (stream, continuation) = AsyncStream<EventNotice>.makeStream()
        let backlog = Backlog()
        let entry = SubscriptionTable.Entry(selectors: selectors, start: start, continuation: continuation, backlog: backlog)
        let id = state.withLock { state -> Int? in
            guard state.reactorRunning, !state.stopping else { return nil }
            defer { state.nextSubscriptionID += 1 }
            state.subscriptionChanges.append(.add(state.nextSubscriptionID, entry))
            return state.nextSubscriptionID
        }
        guard let id else {
            continuation.finish()
            return EventSubscription(stream: stream, backlog: backlog, onCancel: {})
        }
        wake.signal()
        return EventSubscription(stream: stream, backlog: backlog) { [weak self] in
            self?.state.withLock { $0.subscriptionChanges.append(.remove(id)) }
            self?.wake.signal()
        }
    }

    /// Queues a message for the broker (REPLY, PROGRESS, CANCEL …).
    func enqueue(_ header: Header, body: [UInt8]? = nil) {
        state.withLock { $0.outgoing.append(OutgoingMessage(header, body: body)) }
        wake.signal()
    }
}
