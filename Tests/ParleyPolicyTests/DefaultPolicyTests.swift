import ParleyPolicy
import ParleyWire
import Testing

@Suite("The default policy in deploy/policy.yaml")
struct DefaultPolicyTests {
    let policy: Policy

    init() throws {
        policy = try Policy.load(path: Fixtures.defaultPolicyPath)
    }

    private func decide(_ from: String, _ to: String, _ kind: RequestKind = .call, bytes: Int = 100) -> PolicyDecision {
        policy.decide(PolicyQuery(fromLayer: from, toLayer: to, kind: kind, payloadBytes: bytes))
    }

    @Test("it loads with the four layers inside-out and exactly the three inward rules")
    func shape() {
        #expect(policy.version == 1)
        #expect(policy.layers == ["presentation", "application", "domain", "infrastructure"])
        #expect(policy.rules.map(\.name) == ["presentation-uses-application", "application-uses-domain", "domain-uses-infrastructure"])
        #expect(policy.source == Fixtures.defaultPolicyPath)
        for rule in policy.rules {
            #expect(rule.kinds == Set(RequestKind.allCases), "rule \(rule.name)")
            #expect(rule.maxPayloadBytes == 1 << 20, "rule \(rule.name)")
            #expect(rule.rate == Rate(count: 200, perMilliseconds: 1_000), "rule \(rule.name)")
            #expect(!rule.comment.isEmpty)
        }
    }

    @Test("presentation → application is allowed by its rule, with the rule's comment as the reason")
    func presentationToApplication() throws {
        let decision = decide("presentation", "application", .help)
        #expect(decision.verdict == .allow)
        #expect(decision.rule == "presentation-uses-application")
        #expect(decision.reason == policy.rule(named: "presentation-uses-application")?.comment)
    }

    @Test("application → domain and domain → infrastructure are allowed for every kind")
    func inwardEdges() {
        for kind in RequestKind.allCases {
            #expect(decide("application", "domain", kind).verdict == .allow)
            let decision = decide("domain", "infrastructure", kind)
            #expect(decision.verdict == .allow)
            #expect(decision.rule == "domain-uses-infrastructure")
        }
    }

    @Test("domain → presentation is denied by default, naming the edge")
    func domainToPresentation() {
        let decision = decide("domain", "presentation")
        #expect(decision == PolicyDecision(verdict: .deny, rule: "default-deny",
                                           reason: "no rule allows domain → presentation (default deny)"))
        #expect(decision.description == "DENY (default-deny): no rule allows domain → presentation (default deny)")
    }

    @Test("infrastructure → domain, skipping a layer, and calling outwards are all denied by default")
    func otherEdgesDenied() {
        let allowed: Set<[String]> = [["presentation", "application"], ["application", "domain"], ["domain", "infrastructure"]]
        for from in policy.layers {
            for to in policy.layers where !allowed.contains([from, to]) {
                let decision = decide(from, to)
                #expect(decision.verdict == .deny, "\(from) → \(to)")
                #expect(decision.rule == "default-deny", "\(from) → \(to)")
            }
        }
        #expect(decide("infrastructure", "domain").reason == "no rule allows infrastructure → domain (default deny)")
    }

    @Test("a payload over 1 MiB is denied naming the rule; exactly 1 MiB passes")
    func payloadLimit() {
        #expect(decide("domain", "infrastructure", bytes: 1 << 20).verdict == .allow)
        let decision = decide("domain", "infrastructure", bytes: (1 << 20) + 1)
        #expect(decision.verdict == .deny)
        #expect(decision.rule == "domain-uses-infrastructure")
        #expect(decision.reason.contains("1048577 bytes"))
        #expect(decision.reason.contains("1 MiB"))
    }
}
