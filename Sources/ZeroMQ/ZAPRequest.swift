import ParleyWire

/// One ZAP request (ZeroMQ RFC 27), as a ``ZAPHandler``'s `authenticate` function sees it.
///
/// A plain value: `Sendable` and thread-safe.
public struct ZAPRequest: Sendable, Equatable {
    /// The server socket's ZAP domain (`ZMQ_ZAP_DOMAIN`), e.g. `"parley"`.
    public var domain: String
    /// The client's network address as libzmq reports it, e.g. `"127.0.0.1"`.
    public var address: String
    /// The security mechanism: `"NULL"`, `"PLAIN"` or `"CURVE"`.
    public var mechanism: String
    /// The mechanism's credentials: none for NULL, user name and password for PLAIN,
    /// the client's 32-byte long-term public key for CURVE.
    public var credentials: [[UInt8]]
    /// The connecting socket's routing id as the client announced it (RFC 27 "identity"; often empty).
    public var identity: [UInt8]

    /// Creates a request (for tests and custom dispatch; the handler builds them from the wire).
    public init(domain: String, address: String, mechanism: String, credentials: [[UInt8]], identity: [UInt8] = []) {
        self.domain = domain
        self.address = address
        self.mechanism = mechanism
        self.credentials = credentials
        self.identity = identity
    }

    /// The 40-character Z85 text of the client's CURVE public key (`credentials[0]`), the form
    /// ``Curve/generateKeyPair()`` produces; `nil` unless the mechanism is `"CURVE"` with a 32-byte key.
    public var curvePublicKey: String? {
        guard mechanism == "CURVE", let key = credentials.first, key.count == 32 else { return nil }
        return Z85.encode(key)
    }
}

/// A ``ZAPHandler``'s answer to one ``ZAPRequest``. A plain value: thread-safe.
public enum ZAPVerdict: Sendable, Equatable {
    /// Admit the client; every frame it sends then carries `userID` as its `User-Id` property
    /// (``Message/property(_:)``) — but not the routing-id frame a ROUTER prepends, which has no
    /// metadata. ZAP reply status 200.
    case allow(userID: String)
    /// Refuse the client: libzmq ends its handshake. `reason` is the ZAP status text. ZAP reply status 400.
    case deny(reason: String)
}
