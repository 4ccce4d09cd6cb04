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

    static func broker(_ configuration: AgentConfiguration) -> ConnectionTarget {
        ConnectionTarget(name: "broker", endpoint: configuration.brokerEndpoint, eventsEndpoint: configuration.eventsEndpoint,
                         serverKey: configuration.curve?.brokerKey, capabilities: configuration.capabilities)
    }

    static func gateway(_ configuration: AgentConfiguration) -> ConnectionTarget {
        ConnectionTarget(name: "gateway", endpoint: configuration.gatewayEndpoint, eventsEndpoint: nil,
                         serverKey: configuration.curve?.gatewayKey, capabilities: [])
    }
}
