import Logging
import ParleyWire
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
        do {
            let now = MonotonicClock.milliseconds()
            let hello = Hello(instance: instance, agentID: configuration.id, layer: configuration.layer, capabilities: target.capabilities)
            var reactor = Reactor(
                connection: self,
                core: Core(target: target, hello: hello, subscriptionBacklogLimit: configuration.subscriptionBacklogLimit,
                           connectTimeout: connectTimeout?.wholeMilliseconds, now: now, logger: logger),
                link: try makeLink())
            try ReactorDriver(maximumWait: AgentCore<CallWaiter, PublishWaiter>.maximumWait).run(&reactor, stopRequested: { false })
            reactor.link.send(.bye, body: nil)
            finish(&reactor)
            reactor.link.close()
        } catch {
            logger.error("agent reactor failed", metadata: ["agent": "\(configuration.id)", "error": "\(error)"])
            finish(nil)
        }
    }

    private func makeLink() throws -> BrokerLink {
        try BrokerLink(context: try SharedContext.context.get(), target: target, curve: configuration.curve,
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
        for work in reactor.spare {
            if case .reply(let deliveryID, _) = work { reactor.handlers[deliveryID] = nil }
            reactor.core.submit(work, now: now)
        }
        reactor.spare.removeAll(keepingCapacity: true)
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
                       metadata: ["agent": "\(configuration.id)", "milliseconds": "\(now &- started)",
                                  "remedy": "await before long synchronous work, or set startsHandlersInline = false"])
    }

    /// Stops for good: work queued until now is ended with the rest (calls UNAVAILABLE or the refusal, publishes
    /// `notConnected`, subscriptions finished, handlers cancelled), then every `stop()` returns.
    private func finish(_ reactor: inout Reactor) {
        let now = MonotonicClock.milliseconds()
        inbox.withLock { inbox in
            inbox.running = false
            swap(&inbox.work, &reactor.spare)
        }
        submitAll(&reactor, now: now)
        reactor.core.close()
        var effects: [Core.Effect] = []
        reactor.core.takeEffects(into: &effects)
        for effect in effects {
            switch effect {
            case .finishCall(let waiter, let outcome): waiter.resume(returning: outcome)
            case .finishPublish(let waiter, let result): waiter.resume(with: result.mapError { $0 as Error })
            case .revoke(let deliveryID): reactor.handlers.removeValue(forKey: deliveryID)?.cancel()
            case .registrationFailed(let error): inbox.withLock { $0.welcomeWaiter.take() }?.resume(throwing: error)
            case .send, .registered, .serve, .subscribe, .reconnect: break
            }
        }
        reactor.handlers.values.forEach { $0.cancel() }
        finish(reactor.core.refusal)
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

/// One libzmq context for every agent connection of the process (its I/O thread is shared).
enum SharedContext {
    static let context = Result { try Context() }
}
