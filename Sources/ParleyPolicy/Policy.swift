import ParleyWire

/// The gateway's allow-list: which Clean Architecture layers may call which, with what, how much and how often.
///
/// Everything not allowed by a rule is denied. Load one with ``load(path:)`` or ``parse(_:source:)``, which
/// validate the whole file and refuse it naming the offending line. A value: immutable once made, `Sendable`,
/// and safe to share between threads; swap in a new value to reload.
public struct Policy: Sendable {
    /// The file format's version; only 1 exists.
    public var version: Int
    /// The layers, in the order the file lists them.
    public var layers: [String]
    /// The rules, in file order; at most one per from → to edge.
    public var rules: [PolicyRule]
    /// Where the policy came from: the file's path, or the `source` given to ``parse(_:source:)``.
    public var source: String

    /// Makes a policy from parts; nothing is validated (files go through ``parse(_:source:)``). When two rules
    /// cover the same edge, the first one decides.
    public init(version: Int = 1, layers: [String], rules: [PolicyRule], source: String = "<code>") {
        self.version = version
        self.layers = layers
        self.rules = rules
        self.source = source
    }

    /// Decides one request, ignoring rates (the caller applies ``RateLimiter`` with the deciding rule).
    ///
    /// The first rule whose `from` and `to` match decides: a kind it does not list, or a payload larger than its
    /// limit, is denied naming that rule and why; otherwise the request is allowed, the reason being the rule's
    /// comment. With no rule for the edge, or a layer the policy does not know, the answer is a deny with rule
    /// ``PolicyDecision/defaultDenyRule``. Pure and cheap: a scan of the rules.
    public func decide(_ query: PolicyQuery) -> PolicyDecision {
        let from = query.fromLayer, to = query.toLayer
        // Not `for layer in [from, to]`: that builds an array per call, and this runs for every cross-layer call.
        if let layer = !layers.contains(from) ? from : !layers.contains(to) ? to : nil {
            return PolicyDecision(verdict: .deny, rule: PolicyDecision.defaultDenyRule,
                                  reason: "unknown layer '\(layer)' (the policy's layers: \(layers.joined(separator: ", ")))")
        }
        guard let rule = rules.first(where: { $0.from == from && $0.to == to }) else {
            return PolicyDecision(verdict: .deny, rule: PolicyDecision.defaultDenyRule,
                                  reason: "no rule allows \(from) → \(to) (default deny)")
        }
        guard rule.kinds.contains(query.kind) else {
            return PolicyDecision(verdict: .deny, rule: rule.name,
                                  reason: "kind \(query.kind) is not allowed on \(from) → \(to) "
                                      + "(allowed: \(rule.kindNames.joined(separator: ", ")))")
        }
        guard query.payloadBytes <= rule.maxPayloadBytes else {
            return PolicyDecision(verdict: .deny, rule: rule.name,
                                  reason: "payload of \(query.payloadBytes) bytes exceeds the limit of "
                                      + "\(ByteSize.format(rule.maxPayloadBytes)) on \(from) → \(to)")
        }
        return PolicyDecision(verdict: .allow, rule: rule.name, reason: rule.comment)
    }

    /// The rule called `name`, or nil.
    public func rule(named name: String) -> PolicyRule? {
        rules.first { $0.name == name }
    }

    /// The rule covering the edge `from` → `to`, or nil when that edge is denied by default.
    public func rule(from: String, to: String) -> PolicyRule? {
        rules.first { $0.from == from && $0.to == to }
    }
}
