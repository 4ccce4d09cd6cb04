import Logging
import ParleyStatistics
import ParleyWire
import Synchronization
import ZeroMQ

/// The reactor thread: hands queued work to the core, runs its timers, waits on the sockets, feeds it what
/// arrives, and carries out its effects.
extension AgentConnection {
    typealias Core = AgentCore<CallWaiter, PublishWaiter>

    /// What only the reactor thread touches, turned by the shared `ReactorDriver`.
    struct Reactor: ReactorProcess {
        let connection: AgentConnection
        var core: Core
        var link: BrokerLink
        /// The handler task of each delivery the core serves.
        var handlers: [UInt64: Task<Void, Never>] = [:]
        /// The work array swapped with the inbox's each turn, and the effects array swapped with the core's, so
        /// that none of them allocates.
        var spare: [Work] = []
        var effects: [Core.Effect] = []
        /// When a handler last held the reactor thread too long (monotonic milliseconds), to warn once a minute.
        var lastStallWarning: UInt64?
        /// When the current turn began, and whether a consumer is too far behind to read live events in it.
        var turnStarted: UInt64 = 0
        var backedUp = false

        /// Queued work, timers and their effects; false when the application stops the connection or the core finished.
        mutating func prepare(now: UInt64) throws -> Bool {
            guard connection.takeWork(&self, now: now) else { return false }
            core.tick(now: now)
            backedUp = core.isBackedUp
            core.syncSubscriptions(now: now)
            try connection.perform(&self, now: now)
            turnStarted = now
            return !core.isFinished
        }

        var nextWakeup: UInt64 { turnStarted + core.wait(now: turnStarted) }

        mutating func wait(milliseconds: Int) throws {
            try link.poll(timeoutMilliseconds: connection.waitForInput(milliseconds), readEvents: !backedUp)
            connection.reactorWaiting.store(false, ordering: .sequentiallyConsistent)
        }

        /// Everything waiting on the DEALER, a batch of live events, then their effects.
        mutating func read(now: UInt64) throws {
            while try link.receive({ header, body in core.receive(header: header, body: body, now: now) }) {}
            var batch = 0
            while batch < AgentConnection.liveEventBatch,
                  try link.receiveEvent({ header, body in core.receiveLive(header: header, body: body, now: now) }) {
                batch += 1
            }
            try connection.perform(&self, now: now)
        }

        /// An agent connection stops at once: its calls end in `finish`.
        var inFlight: Int { 0 }
        mutating func beginDraining(now: UInt64) {}
    }

    /// How many live events one turn reads before it looks at the DEALER and the queue again.
    static var liveEventBatch: Int { 4_096 }

    func runReactor(connectTimeout: Duration?) {
        let now = MonotonicClock.milliseconds()
        let hello = Hello(instance: instance, agentID: configuration.id, layer: configuration.layer, capabilities: target.capabilities,
                          features: .confirmBatches)
        var core = Core(target: target, hello: hello, subscriptionBacklogLimit: configuration.subscriptionBacklogLimit,
                        connectTimeout: connectTimeout?.wholeMilliseconds, now: now, logger: logger)
        var handlers: [UInt64: Task<Void, Never>] = [:]
        runLink(&core, handlers: &handlers)
        finish(&core, handlers: &handlers)
    }

    /// Makes the link and turns the reactor until the connection stops, then says BYE (after a normal end) and closes
    /// the link. Returns once the link's sockets are released: when this was the process's last connection, that ends
    /// the shared context, which waits up to the DEALER's linger for the BYE to leave, so that a process exiting
    /// right after `close()` does not leave its registration alive at the broker.
    private func runLink(_ core: inout Core, handlers: inout [UInt64: Task<Void, Never>]) {
        let link: BrokerLink
        do {
            link = try makeLink()
        } catch {
            return logReactorFailure(error)
        }
        var reactor = Reactor(connection: self, core: core, link: link)
        do {
            try ReactorDriver(maximumWait: Core.maximumWait).run(&reactor, stopRequested: { false })
            reactor.link.send(.bye, body: nil)
        } catch {
            logReactorFailure(error)
        }
        reactor.link.close()
        core = reactor.core
        handlers = reactor.handlers
    }

    private func logReactorFailure(_ error: any Error) {
        logger.error("agent reactor failed", metadata: ["agent": "\(configuration.id)", "error": "\(error)"])
    }

    private func makeLink() throws -> BrokerLink {
        try BrokerLink(context: try SharedContext.acquire(), target: target, curve: configuration.curve,
                       eventsHighWaterMark: configuration.eventsHighWaterMark, wake: wake)
    }

    /// How long to wait in `poll`: `wait`, or not at all when work was queued meanwhile. From here until `poll`
    /// returns, submitters signal the wake-up descriptor; the check under the queue's lock after raising the flag
    /// means a submission either is seen here or finds the flag raised.
    private func waitForInput(_ wait: Int) -> Int {
        reactorWaiting.store(true, ordering: .sequentiallyConsistent)
        let queued = inbox.withLock { !$0.work.isEmpty || $0.stopping }
        return queued ? 0 : wait
    }

    /// Hands the queued work to the core; false when the application is stopping the connection.
    private func takeWork(_ reactor: inout Reactor, now: UInt64) -> Bool {
        let stopping = inbox.withLock { inbox in
            swap(&inbox.work, &reactor.spare)
            return inbox.stopping
        }
        submitAll(&reactor, now: now)
        return !stopping
    }

    private func submitAll(_ reactor: inout Reactor, now: UInt64) {
        Self.submit(reactor.spare, to: &reactor.core, handlers: &reactor.handlers, now: now)
        reactor.spare.removeAll(keepingCapacity: true)
    }

    private static func submit(_ work: [Work], to core: inout Core, handlers: inout [UInt64: Task<Void, Never>], now: UInt64) {
        for work in work {
            if case .reply(let deliveryID, _) = work { handlers[deliveryID] = nil }
            core.submit(work, now: now)
        }
    }

    /// Carries out the core's effects, and those they lead to (a reconnect registers again).
    private func perform(_ reactor: inout Reactor, now: UInt64) throws {
        var effects: [Core.Effect] = []
        swap(&effects, &reactor.effects)  // moved out, so that it stays uniquely referenced
        reactor.core.takeEffects(into: &effects)
        while !effects.isEmpty {
            for effect in effects {
                switch effect {
                case .send(let header, let body): reactor.link.send(header, body: body)
                case .finishCall(let waiter, let outcome): waiter.resume(returning: outcome)
                case .finishPublish(let waiter, let result): waiter.resume(with: result.mapError { $0 as Error })
                case .registered: inbox.withLock { $0.welcomeWaiter.take() }?.resume()
                case .registrationFailed(let error): inbox.withLock { $0.welcomeWaiter.take() }?.resume(throwing: error)
                case .serve(let deliver, let body):
                    let started = MonotonicClock.milliseconds()
                    reactor.handlers[deliver.deliveryID] = serve(deliver, body: body)
                    warnIfStalled(&reactor, since: started)
                case .revoke(let deliveryID): reactor.handlers.removeValue(forKey: deliveryID)?.cancel()
                case .subscribe(let prefix, let on): reactor.link.setSubscribed(prefix, on)
                case .reconnect:
                    reactor.link.close()
                    reactor.link = try makeLink()
                    reactor.core.linkReplaced(now: now)
                }
            }
            effects.removeAll(keepingCapacity: true)
            reactor.core.takeEffects(into: &effects)
        }
        swap(&effects, &reactor.effects)
    }

    /// Runs the handler for one delivery in its own task (started here, on the reactor thread, unless the
    /// configuration says otherwise); its answer comes back as a submission.
    private func serve(_ deliver: Deliver, body: [UInt8]) -> Task<Void, Never> {
        let incoming = IncomingRequest(kind: deliver.kind, callbackID: deliver.callbackID, attempt: Int(deliver.attempt),
                                       requester: deliver.requester, requesterLayer: deliver.requesterLayer,
                                       contentType: deliver.contentType, body: body,
                                       timeout: .milliseconds(deliver.timeoutMilliseconds),
                                       deliveryID: deliver.deliveryID, connection: self)
        let handler = inbox.withLock { $0.handler }
        let agentID = configuration.id
        let run: @Sendable () async -> Void = { [self] in
            var response: Response
            if let handler {
                do { response = try await handler(incoming) } catch { response = .fail("\(error)") }
            } else {
                response = .decline("agent '\(agentID)' serves no requests")
            }
            submit(.reply(deliveryID: deliver.deliveryID, response))
        }
        return configuration.startsHandlersInline ? Task.immediate(operation: run) : Task(operation: run)
    }

    /// A handler started inline computed for half a heartbeat or more before suspending: the agent sent and read
    /// nothing meanwhile. Says so (at most once a minute) and how to avoid it.
    private func warnIfStalled(_ reactor: inout Reactor, since started: UInt64) {
        let now = MonotonicClock.milliseconds()
        guard now &- started >= reactor.core.heartbeatMilliseconds / 2,
              reactor.lastStallWarning.map({ now &- $0 >= 60_000 }) ?? true else { return }
        reactor.lastStallWarning = now
        logger.warning("a request handler ran on the agent's reactor thread without suspending; heartbeats waited for it",
                       metadata: ["agent": "\(configuration.id)", "milliseconds": .stringConvertible(now &- started),
                                  "remedy": "await before long synchronous work, or set startsHandlersInline = false"])
    }

    /// Stops for good, after a normal end or a failure (the link could not be made or remade): work queued until
    /// now is ended with the rest (calls UNAVAILABLE or the refusal, publishes `notConnected`, subscriptions
    /// finished, handlers cancelled), then every `stop()` returns.
    private func finish(_ core: inout Core, handlers: inout [UInt64: Task<Void, Never>]) {
        let now = MonotonicClock.milliseconds()
        var work: [Work] = []
        inbox.withLock { inbox in
            inbox.running = false
            inbox.refusal = core.refusal ?? inbox.refusal
            swap(&inbox.work, &work)
        }
        Self.submit(work, to: &core, handlers: &handlers, now: now)
        core.close()
        var effects: [Core.Effect] = []
        core.takeEffects(into: &effects)
        for effect in effects {
            switch effect {
            case .finishCall(let waiter, let outcome): waiter.resume(returning: outcome)
            case .finishPublish(let waiter, let result): waiter.resume(with: result.mapError { $0 as Error })
            case .revoke(let deliveryID): handlers.removeValue(forKey: deliveryID)?.cancel()
            case .registrationFailed(let error): inbox.withLock { $0.welcomeWaiter.take() }?.resume(throwing: error)
            case .send, .registered, .serve, .subscribe, .reconnect: break
            }
        }
        handlers.values.forEach { $0.cancel() }
        finish(core.refusal)
    }

    /// Marks the connection stopped and releases whoever waits for it.
    private func finish(_ refusal: Outcome?) {
        let (welcome, stopped) = inbox.withLock { inbox in
            inbox.running = false
            inbox.refusal = refusal ?? inbox.refusal
            defer { inbox.stoppedWaiters.removeAll() }
            return (inbox.welcomeWaiter.take(), inbox.stoppedWaiters)
        }
        welcome?.resume(throwing: ParleyError.notConnected)
        stopped.forEach { $0.resume() }
    }
}

/// One libzmq context for the agent connections open at a time in the process (their I/O thread is shared). It is
/// held only by their sockets: when the last connection closes, the context is terminated, which waits for what its
/// sockets still have to send (up to their linger), and the next connection makes a new one.
enum SharedContext {
    private struct Current: ~Copyable {
        weak var context: Context?
    }

    private static let current = Mutex(Current())

    /// The context the open connections use, or a new one when none is open.
    static func acquire() throws -> Context {
        try current.withLock { current in
            if let context = current.context { return context }
            let context = try Context()
            current.context = context
            return context
        }
    }
}
