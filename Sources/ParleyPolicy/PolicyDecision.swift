/// Whether a request may pass.
public enum Verdict: String, Sendable {
    /// A rule allows the request.
    case allow
    /// No rule allows it, or the rule for its edge forbids it.
    case deny
}

/// The policy's answer to a ``PolicyQuery``: the verdict, the rule that decided, and why.
public struct PolicyDecision: Sendable, Equatable, CustomStringConvertible {
    /// The name the policy uses for the decision when no rule covers the edge.
    public static let defaultDenyRule = "default-deny"

    /// Allow or deny.
    public var verdict: Verdict
    /// The deciding rule's name, or ``defaultDenyRule`` when no rule covers the edge (or a layer is unknown).
    public var rule: String
    /// Why: the rule's comment when allowed; the reason for refusal when denied.
    public var reason: String

    /// Makes a decision.
    public init(verdict: Verdict, rule: String, reason: String) {
        self.verdict = verdict
        self.rule = rule
        self.reason = reason
    }

    /// Whether the verdict is ``Verdict/allow``.
    public var isAllowed: Bool { verdict == .allow }

    /// `ALLOW by rule <name>: <reason>`, `DENY by rule <name>: <reason>` or `DENY (default-deny): <reason>`.
    public var description: String {
        let word = verdict == .allow ? "ALLOW" : "DENY"
        return rule == Self.defaultDenyRule ? "\(word) (\(rule)): \(reason)" : "\(word) by rule \(rule): \(reason)"
    }
}
