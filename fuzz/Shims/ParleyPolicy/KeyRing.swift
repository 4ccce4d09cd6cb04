// A stand-in for ParleyPolicy's `KeyRing`, for the fuzz build only.
//
// The broker core imports ParleyPolicy for one thing: `KeyRing.entry(forID:)` (who a CURVE-authenticated
// identity is). The real module also holds the policy and configuration loaders, which need Yams (libyaml)
// and Foundation; building them with the fuzzer's instrumentation would add a C dependency and minutes to
// every build for code the core never calls. So the fuzz build compiles the real `KeyEntry.swift` from
// Sources/ParleyPolicy and this file in its place of `KeyRing.swift`, with the same lookup semantics
// (when ids repeat, the first entry wins).

/// The CURVE keys file as the broker core sees it: identities looked up by agent or gateway id.
public struct KeyRing: Sendable {
    /// The entries, in file order.
    public var entries: [KeyEntry]
    /// Where the keys came from.
    public var source: String

    /// Makes a key ring from entries; nothing is validated.
    public init(entries: [KeyEntry], source: String = "<code>") {
        self.entries = entries
        self.source = source
    }

    /// The entry for a CURVE public key, or nil.
    public func entry(forPublicKey key: String) -> KeyEntry? {
        entries.first { $0.publicKey == key }
    }

    /// The entry for an agent or gateway id, or nil.
    public func entry(forID id: String) -> KeyEntry? {
        entries.first { $0.id == id }
    }
}
