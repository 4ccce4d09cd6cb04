import ParleyPolicy
import Testing

/// One invalid policy and the error it must raise.
struct InvalidPolicy: Sendable, CustomTestStringConvertible {
    var name: String
    var text: String
    var line: Int
    var problem: String

    var testDescription: String { name }

    /// The small valid policy with `old` replaced by `new` (which must occur).
    static func edit(_ name: String, _ old: String, _ new: String, line: Int, _ problem: String) -> InvalidPolicy {
        precondition(Fixtures.smallPolicy.contains(old), "fixture lacks \(old)")
        return InvalidPolicy(name: name, text: Fixtures.smallPolicy.replacingFirst(old, with: new), line: line, problem: problem)
    }
}

extension String {
    func replacingFirst(_ old: String, with new: String) -> String {
        guard let range = range(of: old) else { return self }
        return replacingCharacters(in: range, with: new)
    }
}

@Suite("Policy validation: every problem names its line")
struct PolicyValidationTests {
    static let cases: [InvalidPolicy] = [
        InvalidPolicy(name: "a list at the top", text: "- version: 1\n- rules: []\n", line: 1,
                      problem: "the policy must be a mapping with keys version, layers, default, rules, not a list"),
        InvalidPolicy(name: "a string at the top", text: "\n\njust words\n", line: 3,
                      problem: "the policy must be a mapping with keys version, layers, default, rules, not a string"),
        InvalidPolicy(name: "an empty file", text: "# nothing but a comment\n", line: 1,
                      problem: "the policy is empty; expected a mapping with keys version, layers, default, rules"),
        .edit("unknown top-level key", "default: deny\n", "default: deny\nowner: platform-team\n", line: 4,
              "unknown key 'owner' in the policy (expected: version, layers, default, rules)"),
        .edit("missing version", "version: 1\n", "", line: 1, "the policy is missing 'version'"),
        .edit("missing layers", "layers: [presentation, application, domain, infrastructure]\n", "", line: 1,
              "the policy is missing 'layers'"),
        .edit("missing default", "default: deny\n", "", line: 1, "the policy is missing 'default'"),
        InvalidPolicy(name: "missing rules", text: "# header\nversion: 1\nlayers: [a]\ndefault: deny\n", line: 2,
                      problem: "the policy is missing 'rules'"),
        .edit("version 2", "version: 1", "version: 2", line: 1, "unsupported version '2'; the only version is 1"),
        .edit("version as a list", "version: 1", "version: [1]", line: 1, "'version' must be a string, not a list"),
        .edit("default allow", "default: deny", "default: allow", line: 3,
              "'default' must be 'deny' (the policy is an allow-list), not 'allow'"),
        .edit("default with no value", "default: deny", "default:", line: 3, "'default' must be a string, not nothing"),
        InvalidPolicy(name: "a bad layer name", text: "version: 1\ndefault: deny\nlayers:\n  - presentation\n  - Data Access\nrules: []\n",
                      line: 5, problem: "layer 'Data Access' contains 'D'; allowed: a-z 0-9 _ -"),
        InvalidPolicy(name: "a duplicate layer", text: "version: 1\ndefault: deny\nlayers:\n  - presentation\n  - domain\n  - presentation\nrules: []\n",
                      line: 6, problem: "duplicate layer 'presentation' (also at line 4)"),
        .edit("no layers", "layers: [presentation, application, domain, infrastructure]", "layers: []", line: 2, "'layers' lists no layer"),
        InvalidPolicy(name: "rules not a list", text: "version: 1\nlayers: [a]\ndefault: deny\nrules: everything\n", line: 4, problem:
              "'rules' must be a list such as [] or a list of rule mappings, not a string"),
        .edit("a rule that is not a mapping", "  - name: app-to-domain\n", "  - just-a-name\n  - name: app-to-domain\n", line: 11,
              "rule #2 must be a mapping with keys name, comment, from, to, kinds, max_payload, rate, not a string"),
        .edit("unknown rule key", "    rate: 2/s\n", "    rate: 2/s\n    priority: 3\n", line: 18,
              "unknown key 'priority' in rule 'app-to-domain' (expected: name, comment, from, to, kinds, max_payload, rate)"),
        .edit("rule missing comment", "    comment: Use cases use the domain.\n", "", line: 11, "rule 'app-to-domain' is missing 'comment'"),
        .edit("rule missing name", "  - name: app-to-domain\n    comment:", "  - comment:", line: 11, "rule #2 is missing 'name'"),
        .edit("rule missing from", "    from: application\n", "", line: 11, "rule 'app-to-domain' is missing 'from'"),
        .edit("rule missing to", "    to: domain\n", "", line: 11, "rule 'app-to-domain' is missing 'to'"),
        .edit("rule missing kinds", "    kinds: [call]\n", "", line: 11, "rule 'app-to-domain' is missing 'kinds'"),
        .edit("rule missing max_payload", "    max_payload: 1000\n", "", line: 11, "rule 'app-to-domain' is missing 'max_payload'"),
        .edit("blank comment", "comment: Use cases use the domain.", "comment: \"  \"", line: 12,
              "rule 'app-to-domain': 'comment' is blank; say why the edge exists"),
        .edit("bad rule name", "name: app-to-domain", "name: app to domain", line: 11,
              "rule name 'app to domain' contains ' '; allowed: A-Z a-z 0-9 _ - ."),
        .edit("reserved rule name", "name: app-to-domain", "name: default-deny", line: 11,
              "rule name 'default-deny' is reserved for denials no rule covers"),
        .edit("duplicate rule name", "name: app-to-domain", "name: ui-to-app", line: 11,
              "duplicate rule name 'ui-to-app' (also at line 5)"),
        .edit("from not a layer", "from: application", "from: persistence", line: 13,
              "rule 'app-to-domain': 'from' layer 'persistence' is not one of the layers (presentation, application, domain, infrastructure)"),
        .edit("to not a layer", "to: domain", "to: database", line: 14,
              "rule 'app-to-domain': 'to' layer 'database' is not one of the layers (presentation, application, domain, infrastructure)"),
        .edit("unknown kind", "kinds: [call]", "kinds: [call, shout]", line: 15,
              "rule 'app-to-domain': unknown kind 'shout' (known: help, clarification, coordinate, call)"),
        .edit("unknown kind in a block list", "kinds: [call]", "kinds:\n      - call\n      - Help", line: 17,
              "rule 'app-to-domain': unknown kind 'Help' (known: help, clarification, coordinate, call)"),
        .edit("empty kinds", "kinds: [call]", "kinds: []", line: 15, "rule 'app-to-domain': 'kinds' lists no kind"),
        .edit("kinds not a list", "kinds: [call]", "kinds: call", line: 15,
              "rule 'app-to-domain': 'kinds' must be a list such as [help, clarification, coordinate, call], not a string"),
        .edit("a kind twice", "kinds: [call]", "kinds: [call, help, call]", line: 15, "rule 'app-to-domain': kind 'call' is listed twice"),
        .edit("max_payload in kb", "max_payload: 1000", "max_payload: 10kb", line: 16,
              "rule 'app-to-domain': bad max_payload '10kb'; expected bytes as an integer or with a B, KB, MB, GB, KiB, MiB or GiB suffix (65536, 64KB, 1MiB)"),
        .edit("negative max_payload", "max_payload: 1000", "max_payload: -1", line: 16,
              "rule 'app-to-domain': bad max_payload '-1'; expected bytes as an integer or with a B, KB, MB, GB, KiB, MiB or GiB suffix (65536, 64KB, 1MiB)"),
        .edit("bad rate unit", "rate: 2/s", "rate: 2/fortnight", line: 17,
              "rule 'app-to-domain': bad rate '2/fortnight'; expected <count>/<period> such as 100/s, 10/min, 5/h, 20/100ms or 1/2s (omit 'rate' for no limit)"),
        .edit("zero rate", "rate: 2/s", "rate: 0/s", line: 17,
              "rule 'app-to-domain': bad rate '0/s'; expected <count>/<period> such as 100/s, 10/min, 5/h, 20/100ms or 1/2s (omit 'rate' for no limit)"),
        .edit("rate with no value", "rate: 2/s", "rate:", line: 17, "rule 'app-to-domain': 'rate' must be a string, not nothing"),
        .edit("two rules for one edge", "from: application\n    to: domain", "from: presentation\n    to: application", line: 11,
              "rules 'ui-to-app' (line 5) and 'app-to-domain' both cover presentation → application; which one applies would be ambiguous, so merge them"),
        .edit("a repeated YAML key", "    to: domain\n", "    to: domain\n    from: domain\n", line: 15,
              "key 'from' appears more than once in the same mapping"),
    ]

    @Test("an invalid policy is refused with the offending line", arguments: cases)
    func refused(_ invalid: InvalidPolicy) throws {
        let error = try #require(Fixtures.policyError(invalid.text))
        #expect(error == ConfigurationError(file: "test.yaml", line: invalid.line, problem: invalid.problem))
    }

    @Test("the error prints as file:line: problem")
    func description() throws {
        let error = try #require(Fixtures.policyError(Fixtures.smallPolicy.replacingFirst("version: 1", with: "version: 3")))
        #expect(error.description == "test.yaml:1: unsupported version '3'; the only version is 1")
    }

    @Test("a YAML syntax error is refused at the line the parser reports", arguments: [
        ("    comment: Use cases use the domain.", "    comment: Use cases: they use the domain.", 12),
        ("    kinds: [call]\n", "    kinds: [call\n", 16),
        ("    to: domain\n", "   to: domain\n", 14),
        ("    from: application\n", "    from: application\n\tto: domain\n", 14),
        ("version: 1\n", "version: 1\n---\nversion: 1\n", 2),
    ])
    func syntaxError(old: String, new: String, line: Int) throws {
        let error = try #require(Fixtures.policyError(Fixtures.smallPolicy.replacingFirst(old, with: new)))
        #expect(error.file == "test.yaml")
        #expect(error.line == line)
        #expect(error.problem.hasPrefix("invalid YAML: "))
    }

    @Test("the small fixture itself is valid (so the edits above are what fails)")
    func fixtureIsValid() throws {
        let policy = try Policy.parse(Fixtures.smallPolicy, source: "test.yaml")
        #expect(policy.rules.count == 2)
    }

    @Test("flow-style YAML, quoted scalars and comments parse like block style")
    func flowStyle() throws {
        let text = """
            # a policy on one screen
            {version: "1", default: deny, layers: [ui, core],
             rules: [{name: ui.core, comment: 'UI calls core', from: ui, to: core, kinds: [call], max_payload: "2 KiB", rate: 1/2s}]}
            """
        let policy = try Policy.parse(text, source: "flow.yaml")
        let rule = try #require(policy.rules.first)
        #expect(rule.name == "ui.core")
        #expect(rule.maxPayloadBytes == 2048)
        #expect(rule.rate == Rate(count: 1, perMilliseconds: 2_000))
        #expect(rule.line == 3)
    }
}
