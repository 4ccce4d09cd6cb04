import Logging
import Synchronization

/// A Parley agent: asks other agents for help and clarification, and serves the requests sent to it.
///
/// All methods are async and thread-safe; the ZeroMQ socket lives on the agent's own reactor thread,
/// so no call ever blocks Swift's cooperative thread pool.
///
/// ```swift
/// let agent = try Agent(AgentConfiguration(id: "planner", layer: "domain"))
/// try await agent.connect()
/// let answer: Plan = try await agent.requestHelp(to: .capability("planning"), problem: Task(...))
/// ```
public final class Agent: Sendable {
    /// The configuration the agent registered with.
    public let configuration: AgentConfiguration
    let connection: AgentConnection
    /// The link to the gateway, for cross-layer calls; started by the first one, without waiting for it.
    let gateway: AgentConnection
    let gatewayStarted = Atomic<Bool>(false)
    /// Callback and event ids, without a system call each.
    let ids = CallbackIDGenerator()
    private let backoff: Backoff
    /// The agent's local, game-style event handlers (see `on(_:priority:once:timeout:_:)`).
    public let events = EventBus()

    /// An agent that is not connected yet. Throws when the configuration breaks a naming rule.
    public init(_ configuration: AgentConfiguration, logger: Logger = Logger(label: "parley.agent")) throws {
        if let problem = configuration.problem() { throw ParleyError.invalidConfiguration(problem) }
        self.configuration = configuration
        self.connection = try AgentConnection(configuration: configuration, target: .broker(configuration), logger: logger)
        self.gateway = try AgentConnection(configuration: configuration, target: .gateway(configuration), logger: logger)
        self.backoff = Backoff(base: configuration.baseBackoff, cap: configuration.maxBackoff)
        events.onFailure { [weak self] failure in await self?.reportHandlerFailure(failure) }
    }

    /// Connects and registers. Throws `registrationRefused` (for example, the id is held by another live
    /// agent) or `brokerUnreachable` when no WELCOME arrives within `connectTimeout`.
    /// After that the agent reconnects and re-registers by itself whenever the broker goes silent.
    public func connect() async throws {
        try await connection.start()
    }

    /// Says BYE and disconnects. Open requests end with UNAVAILABLE; handlers in progress are cancelled.
    public func close() async {
        await gateway.stop()
        await connection.stop()
    }

    /// Serves the requests delivered to this agent with `handler` (one at a time per delivery, concurrently).
    /// Each handler starts on the agent's reactor thread and continues there until it first suspends (see
    /// `AgentConfiguration.startsHandlersInline` for handlers with long synchronous work).
    /// `on_help_needed` fires before the handler runs for a help request, and `on_deadline_approaching`
    /// when the handler is still running at `deadlineWarningFraction` of the request's time.
    public func serve(_ handler: @escaping RequestHandler) {
        connection.setHandler { [events, configuration] request in
            let context = EventContext(name: BuiltInEvent.helpNeeded, source: request.requester, data: request.body)
            if request.kind == .help, events.handlerCount(for: BuiltInEvent.helpNeeded) > 0 { _ = await events.dispatch(context) }
            let warning = Self.deadlineWarning(events, after: request.timeout * configuration.deadlineWarningFraction,
                                               source: request.requester, callbackID: request.callbackID)
            defer { warning?.cancel() }
            return try await handler(request)
        }
    }

    /// Sends a request and returns its one outcome, whatever the status. Retries after OVERLOADED with exponential
    /// backoff and full jitter, reusing the callback id, within `timeout`. The broker's UNAVAILABLE (an agent left,
    /// the broker shutting down) is final and comes back at once; a caller wanting another try sends a new request.
    public func send(_ kind: RequestKind, to target: Target, body: [UInt8], contentType: String = "application/json",
                     timeout: Duration? = nil) async -> Outcome {
        await send(kind, to: target, body: body, contentType: contentType, timeout: timeout, retries: configuration.retries,
                   via: connection)
    }

    /// Sends through `link` (the broker, or the gateway for cross-layer calls), retrying as `send` does; through the
    /// gateway also after an UNAVAILABLE no handler saw (attempts 0: its link to the broker is down).
    func send(_ kind: RequestKind, to target: Target, body: [UInt8], contentType: String, timeout: Duration?, retries: Int,
              via link: AgentConnection) async -> Outcome {
        let callbackID = ids.next()
        let budget = (timeout ?? configuration.defaultTimeout).wholeMilliseconds
        let clock = ContinuousClock()
        let start = clock.now
        var retry = 0
        let warning = Self.deadlineWarning(events, after: .milliseconds(budget) * configuration.deadlineWarningFraction,
                                           source: configuration.id, callbackID: callbackID)
        defer { warning?.cancel() }
        while true {
            let elapsed = (clock.now - start).wholeMilliseconds
            let request = Request(callbackID: callbackID, kind: kind, timeoutMilliseconds: UInt32(clamping: max(budget &- elapsed, 1)),
                                  target: target, contentType: contentType)
            let outcome = await link.call(request, body: body)
            let retriable = outcome.status == .overloaded
                || (outcome.status == .unavailable && outcome.attempts == 0 && link.target.retriesUnavailable)
            guard retriable, retry < retries,
                  !Task.isCancelled else { return outcome }
            retry += 1
            let delay = backoff.delay(beforeRetry: retry)
            guard (clock.now - start + delay).wholeMilliseconds < budget else { return outcome }
            try? await Task.sleep(for: delay)
        }
    }

    /// Asks `target` for help with `problem` and decodes the answer. Throws `ParleyError.outcome` unless OK.
    public func requestHelp<Problem: Encodable & Sendable, Answer: Decodable>(
        to target: Target, problem: Problem, timeout: Duration? = nil, as answer: Answer.Type = Answer.self
    ) async throws -> Answer {
        try await ask(.help, target, problem, timeout)
    }

    /// Asks `target` to clarify `question` and decodes the answer. Throws `ParleyError.outcome` unless OK.
    public func requestClarification<Question: Encodable & Sendable, Answer: Decodable>(
        to target: Target, question: Question, timeout: Duration? = nil, as answer: Answer.Type = Answer.self
    ) async throws -> Answer {
        try await ask(.clarification, target, question, timeout)
    }

    func ask<Payload: Encodable & Sendable, Answer: Decodable>(
        _ kind: RequestKind, _ target: Target, _ payload: Payload, _ timeout: Duration?
    ) async throws -> Answer {
        let outcome = await send(kind, to: target, body: try JSONPayload.encode(payload), timeout: timeout)
        guard outcome.status == .ok else { throw ParleyError.outcome(outcome.status, reason: outcome.text) }
        return try JSONPayload.decode(Answer.self, from: outcome.body)
    }
}
