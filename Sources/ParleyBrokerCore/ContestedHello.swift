import ParleyWire

/// A HELLO (or GATEWAY_HELLO) for an id a live registration of another instance holds, kept until the reactor has
/// tried to reach the holder: a holder killed without BYE a moment ago has no connection any more, and its restarted
/// process should not be refused until the next heartbeat notices.
struct ContestedHello {
    let id: String
    let layer: String
    let capabilities: [String]
    let instance: UInt64
    let features: Features?
    let isGateway: Bool
    let peer: PeerID
}
