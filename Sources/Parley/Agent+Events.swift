import ZeroMQ

/// What `trigger` did: the local handler chain's report, and the broker's receipt for the published event.
public struct TriggerReport: Sendable {
    public var dispatch: DispatchReport
    public var receipt: EventReceipt
}

extension Agent {
    /// Registers a local handler for `event` (see `EventBus.on`): higher priorities run first, as a chain.
    @discardableResult
    public func on(_ event: String, priority: Int = 0, once: Bool = false, timeout: Duration? = nil,
                   _ handler: @escaping EventHandler) -> HandlerToken {
        events.on(event, priority: priority, once: once, timeout: timeout, handler)
    }

    /// Removes a handler registered with `on`.
    public func off(_ token: HandlerToken) {
        events.off(token)
    }

    /// Publishes `event` on `callback.<own id>.<event>` and waits for the broker's CONFIRM, which carries
    /// its sequence number. Resent with the same event id across reconnects; the broker de-duplicates.
    public func publish(_ event: String, data: [UInt8], contentType: String = "application/json") async throws -> EventReceipt {
        guard let topic = Topic(agent: configuration.id, event: event) else {
            throw ParleyError.invalidConfiguration(Names.eventProblem(event) ?? "invalid event name '\(event)'")
        }
        let publish = Publish(eventID: ids.next(), topic: topic, contentType: contentType)
        let confirm = try await connection.publish(publish, body: data, timeout: configuration.publishTimeout)
        return EventReceipt(topic: topic, sequence: confirm.sequence, timestamp: confirm.timestamp, eventID: confirm.eventID)
    }

    /// Publishes `value` as JSON (see `publish(_:data:contentType:)`).
    public func publish<Value: Encodable & Sendable>(_ event: String, _ value: Value) async throws -> EventReceipt {
        try await publish(event, data: try JSONPayload.encode(value))
    }

    /// Runs the local handlers for `event`, then publishes it for other agents.
    public func trigger(_ event: String, data: [UInt8] = Array("null".utf8)) async throws -> TriggerReport {
        let report = await events.dispatch(EventContext(name: event, source: configuration.id, data: data))
        let receipt = try await publish(event, data: data)
        return TriggerReport(dispatch: report, receipt: receipt)
    }

    /// Runs the local handlers for `event` with `value` as JSON, then publishes it.
    public func trigger<Value: Encodable & Sendable>(_ event: String, _ value: Value) async throws -> TriggerReport {
        try await trigger(event, data: try JSONPayload.encode(value))
    }

    /// Receives `agent`'s events (all of them, or only `events`) in per-topic sequence order. Missed
    /// events are replayed; those the broker no longer retains are reported as `.gap`. A late joiner
    /// starts `.now` or from a sequence number.
    public func subscribe(to agent: String, events names: [String]? = nil,
                          from start: SubscriptionStart = .now) throws -> EventSubscription {
        if let problem = Names.agentProblem(agent) { throw ParleyError.invalidConfiguration(problem) }
        let selectors: [TopicSelector]
        if let names {
            selectors = try names.map { name in
                guard let topic = Topic(agent: agent, event: name) else {
                    throw ParleyError.invalidConfiguration(Names.eventProblem(name) ?? "invalid event name '\(name)'")
                }
                return .topic(topic)
            }
        } else {
            selectors = [.agent(agent)]
        }
        return subscribe(selectors, from: start)
    }

    /// Receives the events of the topics `selectors` name (see `subscribe(to:events:from:)`).
    public func subscribe(_ selectors: [TopicSelector], from start: SubscriptionStart = .now) -> EventSubscription {
        connection.subscribe(selectors, from: start)
    }

    /// A handler failed (threw or timed out): raise `on_error` locally and publish it.
    func reportHandlerFailure(_ failure: HandlerFailure) async {
        let detail = ["event": failure.event, "handler": failure.handler.description, "reason": failure.reason,
                      "timedOut": failure.timedOut ? "true" : "false"]
        let data = (try? JSONPayload.encode(detail)) ?? []
        _ = await events.dispatch(EventContext(name: BuiltInEvent.error, source: configuration.id, data: data))
        _ = try? await publish(BuiltInEvent.error, data: data)
    }

    /// A task that raises `on_deadline_approaching` locally after `delay`, unless cancelled first; none (and no
    /// cost per call) while no handler for that event is registered.
    static func deadlineWarning(_ events: EventBus, after delay: Duration, source: String, callbackID: CallbackID) -> Task<Void, Never>? {
        guard events.handlerCount(for: BuiltInEvent.deadlineApproaching) > 0 else { return nil }
        return Task {
            guard (try? await Task.sleep(for: delay)) != nil,
                  events.handlerCount(for: BuiltInEvent.deadlineApproaching) > 0 else { return }
            let data = Array(#"{"callbackID":"\#(callbackID)"}"#.utf8)
            _ = await events.dispatch(EventContext(name: BuiltInEvent.deadlineApproaching, source: source, data: data))
        }
    }
}
