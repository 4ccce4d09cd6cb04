import Logging
import ParleyWire
import ZeroMQ

/// What only the reactor thread touches: the sockets, the timers, the subscriptions.
struct ReactorContext {
    var link: BrokerLink
    var clock: ReactorClock
    var table: SubscriptionTable
    /// A RESULT UNAVAILABLE waiting to see whether a BYE follows.
    var held: HeldResult?
}

/// The reactor thread: sends what async callers queued, keeps the session alive, reads the broker.
extension AgentConnection {
    func runReactor(connectTimeout: Duration?) {
        do {
            let context = try Context()
            var reactor = ReactorContext(link: try makeLink(context),
                                         clock: ReactorClock(now: MonotonicClock.milliseconds(), connectTimeout: connectTimeout),
                                         table: SubscriptionTable(backlogLimit: configuration.subscriptionBacklogLimit))
            sendHello(&reactor)
            while try step(&reactor, context: context) {}
            reactor.link.sendBestEffort(OutgoingMessage(.bye))
            reactor.link.close()
            reactor.table.removeAll()
        } catch {
            logger.error("agent reactor failed", metadata: ["agent": "\(configuration.id)", "error": "\(error)"])
        }
        finishReactor()
    }

    /// How often subscriptions ask for events they might have missed without noticing.
    static let syncInterval: UInt64 = 3_000

    private func makeLink(_ context: Context) throws -> BrokerLink {
        try BrokerLink(context: context, target: target, curve: configuration.curve,
                       eventsHighWaterMark: configuration.eventsHighWaterMark, wake: wake)
    }

    /// One turn of the loop: apply queued work, run timers, wait, read. False when stopping.
    private func step(_ reactor: inout ReactorContext, context: Context) throws -> Bool {
        let (outgoing, changes, stopping, registered, heartbeat, liveness) = state.withLock { state in
            defer {
                state.outgoing.removeAll(keepingCapacity: true)
                state.subscriptionChanges.removeAll()
            }
            return (state.outgoing, state.subscriptionChanges, state.stopping, state.registered,
                    state.heartbeatMilliseconds, state.liveness)
        }
        if stopping { return false }
        if registered { reactor.clock.connectDeadline = nil }
        apply(changes, &reactor)
        for message in outgoing { reactor.link.sendBestEffort(message) }
        if !outgoing.isEmpty { reactor.clock.lastSent = MonotonicClock.milliseconds() }

        var now = MonotonicClock.milliseconds()
        if !registered, let deadline = reactor.clock.connectDeadline, now >= deadline {
            failRegistration(ParleyError.brokerUnreachable(endpoint: target.endpoint))
            return false
        }
        if now &- reactor.clock.lastHeard > heartbeat * liveness, now &- reactor.clock.lastHello > heartbeat * liveness {
            // The broker went silent: start over on fresh sockets and register again.
            logger.info("\(target.name) silent; reconnecting", metadata: ["agent": "\(configuration.id)"])
            state.withLock { $0.registered = false }
            reactor.link.close()
            reactor.link = try makeLink(context)
            for prefix in reactor.table.prefixes { reactor.link.setSubscribed(prefix, true) }
            sendHello(&reactor)
        } else if now &- reactor.clock.lastSent >= heartbeat {
            reactor.link.sendBestEffort(OutgoingMessage(.heartbeat))
            reactor.clock.lastSent = now
        }
        let nextDeadline = expireWaits(now: now)
        if let held = reactor.held, now &- held.since >= HeldResult.window {
            reactor.held = nil
            complete(held)
        }
        let untilHeartbeat = heartbeat - min(heartbeat, now &- reactor.clock.lastSent)
        let wait = min(untilHeartbeat, nextDeadline.map { $0 &- now } ?? .max, reactor.held == nil ? 1_000 : HeldResult.window)
        let backedUp = reactor.table.isBackedUp
        if (reactor.clock.wasBackedUp && !backedUp) || now &- reactor.clock.lastSync >= Self.syncInterval {
            reactor.clock.lastSync = now
            send(reactor.table.syncAll(), &reactor)
        }
        reactor.clock.wasBackedUp = backedUp
        try reactor.link.poll(timeoutMilliseconds: Int(wait), readEvents: !backedUp)
        now = MonotonicClock.milliseconds()
        while let frames = try reactor.link.receive() {
            reactor.clock.lastHeard = now
            handle(frames, &reactor)
        }
        var batch = 0
        while batch < 4_096, let frames = try reactor.link.receiveEvent() {
            batch += 1
            handleLiveEvent(frames, &reactor)
        }
        return true
    }

    private func apply(_ changes: [SubscriptionChange], _ reactor: inout ReactorContext) {
        for change in changes {
            switch change {
            case .add(let id, let entry):
                let (prefixes, replays) = reactor.table.add(id, entry)
                for prefix in prefixes { reactor.link.setSubscribed(prefix, true) }
                send(replays, &reactor)
            case .remove(let id):
                for prefix in reactor.table.remove(id) { reactor.link.setSubscribed(prefix, false) }
            }
        }
    }

    private func send(_ replays: [Replay], _ reactor: inout ReactorContext) {
        for replay in replays { reactor.link.sendBestEffort(OutgoingMessage(.replay(replay))) }
    }

    private func sendHello(_ reactor: inout ReactorContext) {
        let hello = Hello(instance: instance, agentID: configuration.id, layer: configuration.layer,
                          capabilities: target.capabilities)
        reactor.link.sendBestEffort(OutgoingMessage(.hello(hello)))
        let now = MonotonicClock.milliseconds()
        reactor.clock.lastHello = now
        reactor.clock.lastSent = now
        reactor.clock.lastHeard = now
    }

    private func handle(_ frames: [Message], _ reactor: inout ReactorContext) {
        let header: Header
        do {
            header = try HeaderDecoder.decode(frames[0].bytes)
        } catch {
            logger.warning("undecodable message from the broker", metadata: ["error": "\(error)"])
            return
        }
        let body = frames.count > 1 ? frames[1].bytes : []
        if let held = reactor.held {
            reactor.held = nil
            if header != .bye { complete(held) }
        }
        switch header {
        case .welcome(let welcome):
            reactor.table.replaysLost()
            welcomed(welcome)
        case .bye:
            // The session is over: a held UNAVAILABLE meant "not registered", and deliveries are void (the broker
            // delivers them again, with new ids, if they still matter).
            let stale = state.withLock { state in
                state.registered = false
                return state.voidDeliveries()
            }
            stale.forEach { $0.cancel() }
            sendHello(&reactor)
        case .result(let result):
            let outcome = Outcome(status: result.status, body: body, attempts: Int(result.attempts))
            if result.status == .unavailable, result.attempts == 0 {
                reactor.held = HeldResult(callbackID: result.callbackID, outcome: outcome, since: MonotonicClock.milliseconds())
            } else {
                state.withLock { $0.calls.removeValue(forKey: result.callbackID) }?.continuation.resume(returning: outcome)
            }
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
            if notice.command == CommandCode.replay.rawValue { reactor.table.replaysLost() }
            refused(notice, reason: String(decoding: body, as: UTF8.self))
        case .confirm(let confirm):
            state.withLock { $0.publishes.removeValue(forKey: confirm.eventID) }?.continuation.resume(returning: confirm)
        case .event(let event):
            send(reactor.table.receive(ReceivedEvent(event, data: body, replayed: true)), &reactor)
        case .gap(let gap):
            send(reactor.table.receive(gap), &reactor)
        case .replayEnd(let end):
            send(reactor.table.receive(end), &reactor)
        case .heartbeat, .statusReply, .hello, .request, .progress, .cancel, .reply, .status, .publish, .replay, .beacon,
             .gatewayHello, .forward:
            break
        }
    }

    /// A message from the events socket: topic frame, EVENT or BEACON header, optional body.
    private func handleLiveEvent(_ frames: [Message], _ reactor: inout ReactorContext) {
        guard frames.count >= 2, let header = try? HeaderDecoder.decode(frames[1].bytes) else {
            logger.warning("malformed message on the events socket", metadata: ["frames": "\(frames.count)"])
            return
        }
        switch header {
        case .event(let event):
            let body = frames.count > 2 ? frames[2].bytes : []
            send(reactor.table.receive(ReceivedEvent(event, data: body, replayed: false)), &reactor)
        case .beacon(let beacon):
            send(reactor.table.receive(beacon), &reactor)
        default:
            break
        }
    }

    private func welcomed(_ welcome: Welcome) {
        let now = MonotonicClock.milliseconds()
        let (waiter, stale) = state.withLock { state -> (CheckedContinuation<Void, Error>?, [Task<Void, Never>]) in
            state.registered = true
            state.refusal = nil
            state.welcomes += 1
            // A new session: deliveries of the previous one are void, so their handlers stop and can never answer
            // a new delivery.
            let stale = state.welcomes > 1 ? state.voidDeliveries() : []
            state.heartbeatMilliseconds = UInt64(max(welcome.heartbeatMilliseconds, 10))
            state.liveness = UInt64(max(welcome.liveness, 1))
            // Resend every open call and unconfirmed event with the same ids: the broker de-duplicates.
            for call in state.calls.values {
                var request = call.request
                request.timeoutMilliseconds = UInt32(clamping: max(call.brokerDeadline &- now, 1))
                state.outgoing.append(OutgoingMessage(.request(request), body: call.body))
            }
            for pending in state.publishes.values {
                state.outgoing.append(OutgoingMessage(.publish(pending.publish), body: pending.body))
            }
            defer { state.welcomeWaiter = nil }
            return (state.welcomeWaiter, stale)
        }
        stale.forEach { $0.cancel() }
        waiter?.resume()
    }

    private func refused(_ notice: ErrorNotice, reason: String) {
        if notice.command == CommandCode.hello.rawValue {
            let detail = "the \(target.name) refused the registration: \(reason)"
            let waiting = state.withLock { state -> Bool in
                state.refusal = Outcome(status: notice.status, body: Array(detail.utf8), attempts: 0)
                return state.welcomeWaiter != nil
            }
            // A background link (the gateway) keeps trying: the refusal may pass (an old session of the same
            // id timing out); calls still waiting at their deadline end with it.
            guard waiting else {
                logger.warning("registration refused; retrying", metadata: ["agent": "\(configuration.id)", "reason": "\(reason)"])
                return
            }
            failRegistration(ParleyError.registrationRefused(notice.status, reason: reason))
            logger.error("registration refused", metadata: ["agent": "\(configuration.id)", "reason": "\(reason)"])
            return
        }
        let (call, publish) = state.withLock { state in
            notice.callbackID == .none ? (nil, nil)
                : (state.calls.removeValue(forKey: notice.callbackID), state.publishes.removeValue(forKey: notice.callbackID))
        }
        if let call {
            call.continuation.resume(returning: Outcome(status: notice.status, body: Array(reason.utf8), attempts: 0))
        } else if let publish {
            publish.continuation.resume(throwing: ParleyError.outcome(notice.status, reason: reason))
        } else {
            logger.warning("broker error", metadata: ["status": "\(notice.status)", "reason": "\(reason)"])
        }
    }

    /// Ends a held RESULT as its call's outcome, unless the call already ended.
    private func complete(_ held: HeldResult) {
        state.withLock { $0.calls.removeValue(forKey: held.callbackID) }?.continuation.resume(returning: held.outcome)
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
            // The same delivery again (a resent DELIVER): the running handler answers it once.
            guard shared.handlerTasks[deliver.deliveryID] == nil else { return }
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

    /// Ends calls the broker never answered (past deadline + grace) with TIMEOUT and unconfirmed publishes
    /// past their deadline with an error; returns the next such deadline.
    private func expireWaits(now: UInt64) -> UInt64? {
        let (calls, publishes, next, registered, refusal) = state.withLock { state -> ([PendingCall], [PendingPublish], UInt64?, Bool, Outcome?) in
            var next: UInt64?
            var calls: [PendingCall] = []
            for (id, call) in state.calls {
                // Unregistered, nothing will answer: give up at the deadline itself, not after the grace.
                let giveUp = state.registered ? call.localDeadline : call.brokerDeadline
                if giveUp <= now { calls.append(call); state.calls[id] = nil } else { next = min(next ?? .max, giveUp) }
            }
            var publishes: [PendingPublish] = []
            for (id, pending) in state.publishes {
                if pending.deadline <= now { publishes.append(pending); state.publishes[id] = nil } else { next = min(next ?? .max, pending.deadline) }
            }
            return (calls, publishes, next, state.registered, state.refusal)
        }
        // Never registered (or lost): fail closed with UNAVAILABLE; registered but silent: TIMEOUT.
        let outcome = registered
            ? Outcome(status: .timeout, body: Array("no answer from the \(target.name) within the deadline".utf8), attempts: 0)
            : refusal ?? Outcome(status: .unavailable, body: Array("no connection to the \(target.name) at \(target.endpoint)".utf8), attempts: 0)
        for call in calls { call.continuation.resume(returning: outcome) }
        for pending in publishes {
            pending.continuation.resume(throwing: ParleyError.outcome(.timeout, reason: "no CONFIRM from the broker in time"))
        }
        return next
    }

    private func finishReactor() {
        let (calls, publishes, tasks, waiters, welcome, refusal) = state.withLock { state in
            defer {
                state.calls.removeAll()
                state.publishes.removeAll()
                state.handlerTasks.removeAll()
                state.stoppedWaiters.removeAll()
                state.subscriptionChanges.removeAll()
                state.welcomeWaiter = nil
                state.reactorRunning = false
                state.registered = false
            }
            return (Array(state.calls.values), Array(state.publishes.values), Array(state.handlerTasks.values),
                    state.stoppedWaiters, state.welcomeWaiter, state.refusal)
        }
        tasks.forEach { $0.cancel() }
        let closed = refusal ?? Outcome(status: .unavailable, body: Array("the agent was closed".utf8), attempts: 0)
        for call in calls { call.continuation.resume(returning: closed) }
        for pending in publishes { pending.continuation.resume(throwing: ParleyError.notConnected) }
        welcome?.resume(throwing: ParleyError.notConnected)
        waiters.forEach { $0.resume() }
    }
}

extension ReceivedEvent {
    init(_ header: EventHeader, data: [UInt8], replayed: Bool) {
        self.init(topic: header.topic, sequence: header.sequence, timestamp: header.timestamp, eventID: header.eventID,
                  contentType: header.contentType, data: data, replayed: replayed)
    }
}
