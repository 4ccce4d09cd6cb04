import ParleyWire
import ZeroMQ

/// The body frame of a message the gateway sends.
public enum GatewayBody {
    /// No body frame.
    case none
    /// A payload passed through untouched.
    case payload(Message)
    /// A UTF-8 reason written by the gateway.
    case text(String)
}

/// A message for a caller on the gateway's frontend.
public struct FrontOutbound {
    public var peer: PeerID
    public var header: Header
    public var body: GatewayBody
}

/// A message for the broker on the gateway's backend link.
public struct BackOutbound {
    public var header: Header
    public var body: GatewayBody
}
