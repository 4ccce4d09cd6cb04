/// Who an agent is and how it talks to the broker.
public struct AgentConfiguration: Sendable {
    /// The agent's id: 1–64 of `A–Z a–z 0–9 _ -`.
    public var id: String
    /// The agent's Clean Architecture layer, e.g. `domain`.
    public var layer: String
    /// What it can be asked for through `cap:<name>` targets.
    public var capabilities: [String]
    /// The broker's ROUTER endpoint.
    public var brokerEndpoint: String
    /// The broker's events (XPUB) endpoint, for subscriptions.
    public var eventsEndpoint: String
    /// The gateway's endpoint, for cross-layer calls.
    public var gatewayEndpoint = "tcp://127.0.0.1:7420"
    /// CURVE keys, when the broker and gateway require them; nil in development mode.
    public var curve: CurveKeys?
    /// Live events the agent's events socket queues before the broker drops its copies (they are then
    /// fetched again by replay).
    public var eventsHighWaterMark: Int32 = 10_000
    /// Notices a subscription consumer may leave untaken before the agent stops reading live events
    /// (the broker then drops this agent's copies; they are fetched again by replay once it catches up).
    public var subscriptionBacklogLimit = 10_000
    /// The time a request is given when the caller names none.
    public var defaultTimeout: Duration = .seconds(30)
    /// How often a request is retried after OVERLOADED (through the gateway also UNAVAILABLE), with the same callback id.
    public var retries = 3
    /// Backoff before retry n is a random time in 0 ..< min(maxBackoff, baseBackoff × 2ⁿ) (full jitter).
    public var baseBackoff: Duration = .milliseconds(100)
    /// The ceiling of the backoff.
    public var maxBackoff: Duration = .seconds(5)
    /// The fraction of a request's time after which `on_deadline_approaching` fires, on both sides.
    public var deadlineWarningFraction = 0.8
    /// How long `publish` waits for the broker's CONFIRM.
    public var publishTimeout: Duration = .seconds(10)
    /// How long `connect()` waits for the broker's WELCOME.
    public var connectTimeout: Duration = .seconds(10)
    /// Whether a delivered request's handler starts on the agent's reactor thread and runs there until its first
    /// suspension (`Task.immediate`): no thread hop per request, which suits handlers that soon `await` (a model, a
    /// service, another agent). While such a handler computes without suspending, the agent sends and reads
    /// nothing, heartbeats included. Set false for handlers with long synchronous work: each then starts as an
    /// ordinary task on the global executor, and the reactor never waits for it.
    public var startsHandlersInline = true

    /// An agent named `id` in `layer` offering `capabilities`, talking to the broker at `brokerEndpoint`
    /// (and receiving events from `eventsEndpoint`).
    public init(id: String, layer: String, capabilities: [String] = [], brokerEndpoint: String = "tcp://127.0.0.1:7410",
                eventsEndpoint: String = "tcp://127.0.0.1:7411") {
        self.eventsEndpoint = eventsEndpoint
        self.id = id
        self.layer = layer
        self.capabilities = capabilities
        self.brokerEndpoint = brokerEndpoint
    }

    /// The first rule the configuration breaks, or nil.
    func problem() -> String? {
        if let problem = Names.agentProblem(id) { return problem }
        if let problem = Names.layerProblem(layer) { return problem }
        if capabilities.count > Names.maxCapabilities { return "more than \(Names.maxCapabilities) capabilities" }
        return capabilities.lazy.compactMap(Names.capabilityProblem).first
    }
}
