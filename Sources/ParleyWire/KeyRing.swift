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
    /// The agents whose events only some identities may read: their topic frames' prefix and those identities.
    private var restrictedPublishers: [(id: String, prefix: [UInt8], readers: Set<String>)] = []

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

    /// Whether `reader` (an authenticated identity; nil when the connection has none) may read the events of
    /// `publisher`: its own, or any of an agent whose entry lists no readers, or one listing it.
    public func mayRead(_ publisher: String, reader: String?) -> Bool {
        guard let position = byID[publisher], let readers = entries[position].readers else { return true }
        guard let reader else { return false }
        return reader == publisher || readers.contains(reader)
    }

    /// The agent whose events a subscription to the topic-frame prefix `prefix` would let `reader` read against
    /// its keys entry, or nil when it may take the subscription. A prefix that covers several agents (such as
    /// `callback.` or `callback.a`) is refused whole when it covers one that `reader` may not read.
    public func forbiddenPublisher(inSubscription prefix: UnsafeRawBufferPointer, reader: String?) -> String? {
        for publisher in restrictedPublishers where publisher.id != reader && !(reader.map(publisher.readers.contains) ?? false) {
            let shorter = min(prefix.count, publisher.prefix.count)
            if prefix.prefix(shorter).elementsEqual(publisher.prefix.prefix(shorter)) { return publisher.id }
        }
        return nil
    }

    private mutating func index() {
        byPublicKey = [:]
        byID = [:]
        reservations = [:]
        restrictedPublishers = []
        for (position, entry) in entries.enumerated().reversed() {
            byPublicKey[entry.publicKey] = position
            byID[entry.id] = position
            for capability in entry.capabilities ?? [] { reservations[capability, default: []].insert(entry.id) }
        }
        for (id, position) in byID {
            guard let readers = entries[position].readers else { continue }
            restrictedPublishers.append((id, Array("callback.\(id).".utf8), Set(readers)))
        }
    }
}
