import Foundation
import Logging
import ParleyWire
import Synchronization
import ZeroMQ

/// The agent's link to one server: a reactor thread that owns the sockets and the `AgentCore`, and a submission
/// queue through which async callers hand it work. Async code never touches a socket or the core; it queues work
/// and waits on continuations that the reactor resumes. Thread-safe.
final class AgentConnection: Sendable {
    /// Unchecked continuations (no allocation each): the core ends every call and publish exactly once
    /// (AgentCoreTests), and what never reaches it is resumed here, once.
    typealias CallWaiter = UnsafeContinuation<Outcome, Never>
    typealias PublishWaiter = UnsafeContinuation<Confirm, Error>
    typealias Work = Submission<CallWaiter, PublishWaiter>

    let configuration: AgentConfiguration
    let target: ConnectionTarget
    /// Random per process, the same across reconnects: lets the broker tell a reconnect from an impostor.
    let instance = UInt64.random(in: 1...UInt64.max)
    let logger: Logger
    let inbox: Mutex<Inbox>
    let wake: WakeSignal
    /// Set while the reactor waits (or is about to wait) for input: the first submitter to clear it wakes the
    /// reactor; while the reactor is busy, submitting costs no system call (wake-ups coalesce).
    let reactorWaiting = Atomic<Bool>(false)
    private let subscriptionIDs = Atomic<Int>(0)

    /// What async callers and the reactor thread share, behind one mutex.
    struct Inbox {
        var work: [Work] = []
        var running = false
        var stopping = false
        /// Why the server refused this connection's registration, for calls made after the reactor stopped.
        var refusal: Outcome?
        var welcomeWaiter: CheckedContinuation<Void, Error>?
        var stoppedWaiters: [CheckedContinuation<Void, Never>] = []
        var handler: RequestHandler?
    }

    init(configuration: AgentConfiguration, target: ConnectionTarget, logger: Logger) throws {
        self.configuration = configuration
        self.target = target
        self.logger = logger
        self.wake = try WakeSignal()
        self.inbox = Mutex(Inbox())
    }

    /// Starts the reactor thread and waits for WELCOME.
    func start() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            inbox.withLock { $0.welcomeWaiter = continuation }
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
        inbox.withLock { $0.running = true }
        let thread = Thread { [self] in runReactor(connectTimeout: connectTimeout) }
        thread.name = "parley-\(target.name)-\(configuration.id)"
        thread.start()
    }

    /// Says BYE, stops the reactor thread, ends every open call with UNAVAILABLE and every subscription.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let running = inbox.withLock { inbox -> Bool in
                guard inbox.running else { return false }
                inbox.stopping = true
                inbox.stoppedWaiters.append(continuation)
                return true
            }
            if running { wake.signal() } else { continuation.resume() }
        }
    }

    /// Sets the handler for delivered requests.
    func setHandler(_ handler: @escaping RequestHandler) {
        inbox.withLock { $0.handler = handler }
    }

    /// Sends one REQUEST and waits for its outcome. Swift task cancellation sends CANCEL; a call whose task is
    /// cancelled before it is queued ends CANCELLED without reaching the server.
    func call(_ request: Request, body: [UInt8]) async -> Outcome {
        let callbackID = request.callbackID
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: CallWaiter) in
                // Checked under the queue's lock: a cancellation handler that ran first has set the flag, so its
                // CANCEL never overtakes the REQUEST.
                let refused = inbox.withLock { inbox -> Outcome? in
                    if Task.isCancelled {
                        return .cancelledLocally
                    }
                    guard inbox.running, !inbox.stopping else {
                        return inbox.refusal
                            ?? Outcome(status: .unavailable, body: Array("the agent is not connected to the \(target.name)".utf8), attempts: 0)
                    }
                    inbox.work.append(.call(request, body: body, waiter: continuation))
                    return nil
                }
                if let refused { continuation.resume(returning: refused) } else { signal() }
            }
        } onCancel: {
            submit(.cancel(callbackID))
        }
    }

    /// Sends one PUBLISH and waits for its CONFIRM (resending it after reconnects, same event id).
    func publish(_ publish: Publish, body: [UInt8], timeout: Duration) async throws -> Confirm {
        try await withUnsafeThrowingContinuation { (continuation: PublishWaiter) in
            let work = Work.publish(publish, body: body, waiter: continuation, timeoutMilliseconds: timeout.wholeMilliseconds)
            if !submit(work) { continuation.resume(throwing: ParleyError.notConnected) }
        }
    }

    /// Adds a subscription; the reactor subscribes the events socket and starts tracking sequences.
    func subscribe(_ selectors: [TopicSelector], from start: SubscriptionStart) -> EventSubscription {
        let channel = NoticeChannel()
        let entry = SubscriptionTable.Entry(selectors: selectors, start: start, channel: channel)
        let id = subscriptionIDs.wrappingAdd(1, ordering: .relaxed).newValue
        guard submit(.subscribe(id: id, entry)) else {
            channel.finish()
            return EventSubscription(channel: channel, onCancel: {})
        }
        return EventSubscription(channel: channel) { [weak self] in
            self?.submit(.unsubscribe(id: id))
        }
    }

    /// Reports a handler's progress on a delivery.
    func progress(_ report: ProgressReport, note: [UInt8]?) {
        submit(.progress(report, note: note))
    }

    /// Queues `work` for the reactor; false when the reactor is not running (not started, stopping or stopped).
    @discardableResult
    func submit(_ work: Work) -> Bool {
        let queued = inbox.withLock { inbox -> Bool in
            guard inbox.running, !inbox.stopping else { return false }
            inbox.work.append(work)
            return true
        }
        if queued { signal() }
        return queued
    }

    /// Wakes the reactor if it waits for input and nobody has woken it yet.
    private func signal() {
        if reactorWaiting.exchange(false, ordering: .sequentiallyConsistent) { wake.signal() }
    }
}
