import ParleyWire

/// A registration's place in the ``AgentTable``: its slot and the slot's generation. A handle kept after the
/// agent left finds another generation (or nothing) there.
struct AgentHandle: Hashable {
    let slot: Int32
    let generation: UInt32
}

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
    /// The first of the requests delivered to it and not yet answered (a pending slot; -1: none), linked through
    /// the requests themselves: what moves elsewhere when it goes, without a scan of every pending request.
    var firstServed: Int32 = -1
    /// How many requests it is serving, and their payload bytes.
    var inFlight = 0
    var inFlightBytes = 0
    /// A gateway: it may FORWARD cross-layer requests; it serves none itself.
    var isGateway = false
    /// It asked for ``Features/confirmBatches`` (protocol 1.1): its events are confirmed with CONFIRMS.
    var confirmsInBatches = false
}

extension AgentRecord {
    /// What a free slot of the agent table holds.
    static var vacant: AgentRecord {
        AgentRecord(id: "", layer: "", capabilities: [], instance: 0, peer: PeerID([]), lastHeard: 0, isAlive: false)
    }
}

/// The agents offering one capability, with a round-robin cursor for ties.
struct CapabilityPool {
    var agents: [AgentHandle] = []
    var cursor = 0
}
