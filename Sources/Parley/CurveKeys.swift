/// An agent's CURVE credentials: its own key pair and the servers' public keys (all Z85, 40 characters).
public struct CurveKeys: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String
    /// The broker's public key.
    public var brokerKey: String
    /// The gateway's public key (needed for cross-layer calls).
    public var gatewayKey: String?

    public init(publicKey: String, secretKey: String, brokerKey: String, gatewayKey: String? = nil) {
        self.publicKey = publicKey; self.secretKey = secretKey; self.brokerKey = brokerKey; self.gatewayKey = gatewayKey
    }
}

/// The CURVE keys of one client connection: its own key pair and the server's public key (all Z85, 40 characters).
public struct CurveClientKeys: Sendable, Equatable {
    public var publicKey: String
    public var secretKey: String
    public var serverKey: String

    public init(publicKey: String, secretKey: String, serverKey: String) {
        self.publicKey = publicKey; self.secretKey = secretKey; self.serverKey = serverKey
    }
}
