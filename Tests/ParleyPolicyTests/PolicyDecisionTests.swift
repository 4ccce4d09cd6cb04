import ParleyPolicy
import ParleyWire
import Testing

@Suite("Policy decisions")
struct PolicyDecisionTests {
    let policy: Policy

    init() throws {
        policy = try Policy.parse(Fixtures.smallPolicy, source: "small.yaml")
    }

    private func decide(_ from: String, _ to: String, _ kind: RequestKind, bytes: Int) -> PolicyDecision {
        policy.decide(PolicyQuery(fromLayer: from, toLayer: to, kind: kind, payloadBytes: bytes))
    }

    @Test("a parsed rule keeps every field and its line")
    func parsedRule() throws {
        let rule = try #require(policy.rule(named: "app-to-domain"))
        #expect(rule == PolicyRule(name: "app-to-domain", comment: "Use cases use the domain.", from: "application", to: "domain",
                                   kinds: [.call], maxPayloadBytes: 1000, rate: Rate(count: 2, perMilliseconds: 1_000), line: 11))
        #expect(policy.rule(named: "ui-to-app")?.line == 5)
        #expect(policy.rule(named: "ui-to-app")?.rate == nil)
        #expect(policy.rule(named: "ui-to-app")?.maxPayloadBytes == 64 * 1024)
        #expect(policy.rule(named: "nope") == nil)
        #expect(policy.rule(from: "application", to: "domain")?.name == "app-to-domain")
        #expect(policy.rule(from: "domain", to: "application") == nil)
    }

    @Test("a kind the rule does not list is denied naming the rule, the kind and the allowed kinds")
    func kindDenied() {
        let decision = decide("presentation", "application", .coordinate, bytes: 10)
        #expect(decision.verdict == .deny)
        #expect(decision.rule == "ui-to-app")
        #expect(decision.reason == "kind coordinate is not allowed on presentation → application (allowed: help, call)")
        #expect(decision.description.hasPrefix("DENY by rule ui-to-app: kind coordinate"))
        #expect(decide("presentation", "application", .call, bytes: 10).verdict == .allow)
    }

    @Test("a payload over the rule's limit is denied naming the rule; the limit itself passes")
    func payloadDenied() {
        #expect(decide("application", "domain", .call, bytes: 1000).verdict == .allow)
        let decision = decide("application", "domain", .call, bytes: 1001)
        #expect(decision == PolicyDecision(verdict: .deny, rule: "app-to-domain",
                                           reason: "payload of 1001 bytes exceeds the limit of 1 KB on application → domain"))
    }

    @Test("an allowed request names its rule and gives the rule's comment")
    func allowed() {
        let decision = decide("application", "domain", .call, bytes: 0)
        #expect(decision == PolicyDecision(verdict: .allow, rule: "app-to-domain", reason: "Use cases use the domain."))
        #expect(decision.isAllowed)
        #expect(decision.description == "ALLOW by rule app-to-domain: Use cases use the domain.")
    }

    @Test("unknown layers are denied by default, naming the unknown layer", arguments: [
        ("persistence", "domain", "persistence"), ("application", "Domain", "Domain"), ("", "application", ""),
    ])
    func unknownLayers(from: String, to: String, unknown: String) {
        let decision = decide(from, to, .call, bytes: 0)
        #expect(decision.verdict == .deny)
        #expect(decision.rule == "default-deny")
        #expect(decision.reason.hasPrefix("unknown layer '\(unknown)'"))
    }

    @Test("the edge's direction matters: the reverse of an allowed edge is denied")
    func direction() {
        #expect(decide("domain", "application", .call, bytes: 0).rule == "default-deny")
        #expect(decide("application", "presentation", .help, bytes: 0).verdict == .deny)
    }

    @Test("a policy built in code decides by its first rule for an edge")
    func builtInCode() {
        let first = PolicyRule(name: "first", comment: "only help", from: "a", to: "b", kinds: [.help], maxPayloadBytes: 10)
        let second = PolicyRule(name: "second", comment: "calls", from: "a", to: "b", kinds: [.call], maxPayloadBytes: 10)
        let coded = Policy(layers: ["a", "b"], rules: [first, second])
        let decision = coded.decide(PolicyQuery(fromLayer: "a", toLayer: "b", kind: .call, payloadBytes: 1))
        #expect(decision.verdict == .deny)
        #expect(decision.rule == "first")
    }

    @Test("a policy without rules denies everything")
    func noRules() throws {
        let empty = try Policy.parse("version: 1\nlayers: [a, b]\ndefault: deny\nrules: []\n", source: "empty.yaml")
        #expect(empty.rules.isEmpty)
        #expect(empty.decide(PolicyQuery(fromLayer: "a", toLayer: "b", kind: .call, payloadBytes: 0)).rule == "default-deny")
    }
}
