import ParleyWire

/// One allow rule of a policy: callers in layer `from` may send requests of `kinds`, with payloads up to
/// `maxPayloadBytes`, to layer `to`, at most `rate` per caller.
public struct PolicyRule: Sendable, Hashable {
    /// The rule's unique name; audit records and denials name it.
    public var name: String
    /// Why the edge exists, in the policy author's words.
    public var comment: String
    /// The calling layer.
    public var from: String
    /// The called layer.
    public var to: String
    /// The request kinds the rule allows (never empty in a loaded policy).
    public var kinds: Set<RequestKind>
    /// The largest payload allowed, in bytes.
    public var maxPayloadBytes: Int
    /// The per-caller rate limit, or nil for none.
    public var rate: Rate?
    /// The 1-based line where the rule starts in its policy file (0 for a rule built in code).
    public var line: Int

    /// Makes a rule; nothing is validated (``Policy/parse(_:source:)`` validates rules read from files).
    public init(name: String, comment: String, from: String, to: String, kinds: Set<RequestKind>,
                maxPayloadBytes: Int, rate: Rate? = nil, line: Int = 0) {
        self.name = name
        self.comment = comment
        self.from = from
        self.to = to
        self.kinds = kinds
        self.maxPayloadBytes = maxPayloadBytes
        self.rate = rate
        self.line = line
    }

    /// The allowed kinds in protocol order, as their lower-case names.
    public var kindNames: [String] {
        RequestKind.allCases.filter(kinds.contains).map(\.description)
    }
}
