/// The CURVE keys file: which public key proves which agent (and its layer) or gateway.
///
/// The ZAP handler looks connections up by public key; the broker and gateway look identities up by id.
/// A value: `Sendable` and safe to share; lookups are dictionary reads.
public struct KeyRing: Sendable {
    /// The entries, in file order.
    public var entries: [KeyEntry] {
        didSet { index() }
    }
    /// Where the keys came from: the file's path, or the `source` given to ``parse(_:source:)``.
    public var source: String

    private var byPublicKey: [String: Int] = [:]
    private var byID: [String: Int] = [:]

    /// Makes a key ring from entries; nothing is validated. When keys or ids repeat, lookups find the first.
    public init(entries: [KeyEntry], source: String = "<code>") {
        self.entries = entries
        self.source = source
        index()
    }

    /// The entry for a CURVE public key (40 Z85 characters, compared exactly), or nil.
    public func entry(forPublicKey key: String) -> KeyEntry? {
        byPublicKey[key].map { entries[$0] }
    }

    /// The entry for an agent or gateway id, or nil.
    public func entry(forID id: String) -> KeyEntry? {
        byID[id].map { entries[$0] }
    }

    /// Why `key` is not a 40-character Z85 CURVE key, or nil when it is one.
    public static func publicKeyProblem(_ key: String) -> String? {
        Z85.keyProblem(key)
    }

    /// Checks that every agent's layer is one of `policy`'s layers.
    ///
    /// - Throws: ``ConfigurationError`` in this key ring's file, at the first entry whose layer the policy lacks.
    public func check(against policy: Policy) throws(ConfigurationError) {
        for entry in entries {
            if let layer = entry.layer, !policy.layers.contains(layer) {
                throw ConfigurationError(file: source, line: entry.line,
                                         problem: "agent '\(entry.id)' is in layer '\(layer)', which the policy \(policy.source) "
                                             + "does not list (\(policy.layers.joined(separator: ", ")))")
            }
        }
    }

    private mutating func index() {
        byPublicKey = [:]
        byID = [:]
        for (position, entry) in entries.enumerated().reversed() {
            byPublicKey[entry.publicKey] = position
            byID[entry.id] = position
        }
    }
}
