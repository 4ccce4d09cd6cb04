/// What one agent connection talks to: the broker (with its events socket) or the gateway.
struct ConnectionTarget: Sendable {
    /// `broker` or `gateway`, for messages.
    let name: String
    let endpoint: String
    /// The events socket to subscribe on; nil for the gateway.
    let eventsEndpoint: String?
    /// The server's CURVE public key, when CURVE is in use.
    let serverKey: String?
    /// Capabilities announced in HELLO (the gateway serves no requests, so none there).
    let capabilities: [String]
    /// Whether a call retries UNAVAILABLE with attempts 0 with the same callback id: yes at the gateway ("no
    /// connection to the broker; retry later", PROTOCOL.md §8.7); never at the broker, whose are final (§11 rule 5).
    let retriesUnavailable: Bool

    static func broker(_ configuration: AgentConfiguration) -> ConnectionTarget {
        ConnectionTarget(name: "broker", endpoint: configuration.brokerEndpoint, eventsEndpoint: configuration.eventsEndpoint,
                         serverKey: configuration.curve?.brokerKey, capabilities: configuration.capabilities,
                         retriesUnavailable: false)
    }

    static func gateway(_ configuration: AgentConfiguration) -> ConnectionTarget {
        ConnectionTarget(name: "gateway", endpoint: configuration.gatewayEndpoint, eventsEndpoint: nil,
                         serverKey: configuration.curve?.gatewayKey, capabilities: [],
                         retriesUnavailable: true)
    }
}
