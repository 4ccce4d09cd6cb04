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
    /// Every capability some entry lists, with the ids of the entries listing it.
    private var reservations: [String: Set<String>] = [:]

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

    /// Why `entry` may not offer `capability`, or nil when it may: an entry with a capabilities list may offer only
    /// those; an entry without one may offer any capability that no entry lists.
    public func capabilityProblem(_ capability: String, offeredBy entry: KeyEntry) -> String? {
        if let allowed = entry.capabilities {
            return allowed.contains(capability) ? nil
                : "agent '\(entry.id)' may not offer capability '\(capability)' (its keys entry lists "
                + (allowed.isEmpty ? "none" : allowed.joined(separator: ", ")) + ")"
        }
        guard let holders = reservations[capability] else { return nil }
        return "capability '\(capability)' is reserved to \(holders.sorted().joined(separator: ", ")) by the keys file"
    }

    private mutating func index() {
        byPublicKey = [:]
        byID = [:]
        reservations = [:]
        for (position, entry) in entries.enumerated().reversed() {
            byPublicKey[entry.publicKey] = position
            byID[entry.id] = position
            for capability in entry.capabilities ?? [] { reservations[capability, default: []].insert(entry.id) }
        }
    }
}
