/// What the broker knows of one registered agent.
struct AgentRecord {
    let id: String
    let layer: String
    let capabilities: [String]
    let instance: UInt64
    var peer: PeerID
    var lastHeard: UInt64
    /// False once it stopped heartbeating or became unreachable; it may come back with the same instance.
    var isAlive = true
    /// When it went away (meaningful when not alive).
    var awaySince: UInt64 = 0
    /// Requests delivered to it and not yet answered: what moves elsewhere when it goes, without a scan of every
    /// pending request.
    var serving: Set<RequestKey> = []
    /// How many requests it is serving.
    var inFlight: Int { serving.count }
    /// A gateway: it may FORWARD cross-layer requests; it serves none itself.
    var isGateway = false
}

/// The agents offering one capability, with a round-robin cursor for ties.
struct CapabilityPool {
    var agentIDs: [String] = []
    var cursor = 0
}
