/// What a CURVE key authenticates.
public enum KeyRole: String, Sendable {
    /// An agent, which belongs to a layer.
    case agent
    /// A gateway, which may send layer-addressed and cross-layer requests to the broker; it has no layer.
    case gateway
}

/// One line of the keys file: a CURVE public key and the identity it proves.
public struct KeyEntry: Sendable, Hashable {
    /// The CURVE public key, 40 Z85 characters.
    public var publicKey: String
    /// The agent's or the gateway's id.
    public var id: String
    /// The agent's layer; nil for gateways.
    public var layer: String?
    /// Agent or gateway.
    public var role: KeyRole
    /// The capabilities this agent may offer, or nil when it may offer any capability no entry lists
    /// (a capability some entry lists is reserved to the entries listing it).
    public var capabilities: [String]?
    /// Whether this identity sees the broker's full STATUS (every agent, layer and capability) with CURVE on.
    public var observer: Bool
    /// Whether this identity may send ADMIN (evict an agent, purge a topic) with CURVE on.
    public var admin: Bool
    /// Who may read this agent's events (subscribe to or replay its topics) besides itself, or nil when every
    /// identity may.
    public var readers: [String]?
    /// The 1-based line where the entry starts in its file (0 for an entry built in code).
    public var line: Int

    /// Makes an entry; nothing is validated (``KeyRing/parse(_:source:)`` validates files).
    public init(publicKey: String, id: String, layer: String?, role: KeyRole, capabilities: [String]? = nil, observer: Bool = false,
                admin: Bool = false, readers: [String]? = nil, line: Int = 0) {
        self.publicKey = publicKey
        self.id = id
        self.layer = layer
        self.role = role
        self.capabilities = capabilities
        self.readers = readers
        self.observer = observer
        self.admin = admin
        self.line = line
    }
}
