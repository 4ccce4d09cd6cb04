import ParleyPolicy
import Testing

@Suite("CURVE keys files")
struct KeyRingTests {
    static let valid = """
        keys:
          - id: db-agent
            layer: infrastructure
            public: "\(Fixtures.keys[0])"
          - id: gateway-1
            role: gateway
            public: "\(Fixtures.keys[1])"
          - id: Pricing_2
            role: agent
            layer: domain
            public: '\(Fixtures.keys[2])'

        """

    @Test("entries parse with their role, layer and line, and are found by public key and by id")
    func lookups() throws {
        let ring = try KeyRing.parse(Self.valid, source: "keys.yaml")
        #expect(ring.source == "keys.yaml")
        #expect(ring.entries == [
            KeyEntry(publicKey: Fixtures.keys[0], id: "db-agent", layer: "infrastructure", role: .agent, line: 2),
            KeyEntry(publicKey: Fixtures.keys[1], id: "gateway-1", layer: nil, role: .gateway, line: 5),
            KeyEntry(publicKey: Fixtures.keys[2], id: "Pricing_2", layer: "domain", role: .agent, line: 8),
        ])
        #expect(ring.entry(forPublicKey: Fixtures.keys[1])?.id == "gateway-1")
        #expect(ring.entry(forPublicKey: Fixtures.keys[0])?.layer == "infrastructure")
        #expect(ring.entry(forID: "Pricing_2")?.publicKey == Fixtures.keys[2])
        #expect(ring.entry(forID: "pricing_2") == nil)
        #expect(ring.entry(forPublicKey: Fixtures.keys[0].lowercased()) == nil)
        #expect(ring.entry(forID: "nobody") == nil)
    }

    @Test("a capability listed by some entries is theirs alone; an entry with a list may offer only what it lists")
    func capabilityAuthorization() throws {
        let ring = try KeyRing.parse("""
            keys:
              - id: pricing
                layer: domain
                capabilities: [quote, quote, rates.v2]
                public: "\(Fixtures.keys[0])"
              - id: pricing-backup
                layer: domain
                capabilities: [quote]
                public: "\(Fixtures.keys[1])"
              - id: anyone
                layer: domain
                public: "\(Fixtures.keys[2])"
              - id: nothing
                layer: domain
                capabilities: []
                public: "\(Fixtures.keys[3])"

            """, source: "keys.yaml")
        let pricing = try #require(ring.entry(forID: "pricing"))
        #expect(pricing.capabilities == ["quote", "rates.v2"])
        #expect(ring.capabilityProblem("quote", offeredBy: pricing) == nil)
        #expect(ring.capabilityProblem("rates.v2", offeredBy: pricing) == nil)
        #expect(ring.capabilityProblem("search", offeredBy: pricing)
                == "agent 'pricing' may not offer capability 'search' (its keys entry lists quote, rates.v2)")
        #expect(ring.capabilityProblem("quote", offeredBy: try #require(ring.entry(forID: "pricing-backup"))) == nil)
        let anyone = try #require(ring.entry(forID: "anyone"))
        #expect(anyone.capabilities == nil)
        #expect(ring.capabilityProblem("search", offeredBy: anyone) == nil)
        #expect(ring.capabilityProblem("quote", offeredBy: anyone) == "capability 'quote' is reserved to pricing, pricing-backup by the keys file")
        #expect(ring.capabilityProblem("search", offeredBy: try #require(ring.entry(forID: "nothing")))
                == "agent 'nothing' may not offer capability 'search' (its keys entry lists none)")
    }

    @Test("an agent's events are read by itself and its readers; a subscription covering it is refused to the others")
    func readAuthorization() throws {
        let ring = try KeyRing.parse("""
            keys:
              - id: pricing
                layer: domain
                readers: [orders, orders]
                public: "\(Fixtures.keys[0])"
              - id: orders
                layer: domain
                public: "\(Fixtures.keys[1])"
              - id: spy
                layer: domain
                public: "\(Fixtures.keys[2])"

            """, source: "keys.yaml")
        #expect(ring.entry(forID: "pricing")?.readers == ["orders"])
        #expect(ring.mayRead("pricing", reader: "orders") && ring.mayRead("pricing", reader: "pricing"))
        #expect(!ring.mayRead("pricing", reader: "spy") && !ring.mayRead("pricing", reader: nil))
        #expect(ring.mayRead("orders", reader: "spy") && ring.mayRead("orders", reader: nil) && ring.mayRead("unknown", reader: nil))
        func forbidden(_ prefix: String, _ reader: String?) -> String? {
            Array(prefix.utf8).withUnsafeBytes { ring.forbiddenPublisher(inSubscription: $0, reader: reader) }
        }
        for prefix in ["callback.pricing.", "callback.pricing.quote.", "callback.pri", "callback.", "", "c"] {
            #expect(forbidden(prefix, "spy") == "pricing", "'\(prefix)' covers pricing")
            #expect(forbidden(prefix, "orders") == nil && forbidden(prefix, "pricing") == nil)
        }
        for prefix in ["callback.orders.", "callback.pricingx.", "callback.pricing-old.quote.", "callback.o"] {
            #expect(forbidden(prefix, "spy") == nil, "'\(prefix)' does not cover pricing")
        }
        #expect(forbidden("callback.orders.", nil) == nil && forbidden("callback.", nil) == "pricing")
    }

    @Test("lookups follow changes to the entries")
    func mutation() throws {
        var ring = try KeyRing.parse(Self.valid, source: "keys.yaml")
        ring.entries.removeFirst()
        #expect(ring.entry(forID: "db-agent") == nil)
        #expect(ring.entry(forPublicKey: Fixtures.keys[0]) == nil)
        #expect(ring.entry(forID: "gateway-1")?.role == .gateway)
        ring.entries.append(KeyEntry(publicKey: Fixtures.keys[0], id: "late", layer: "domain", role: .agent))
        #expect(ring.entry(forPublicKey: Fixtures.keys[0])?.id == "late")
    }

    @Test("an empty list of keys is a valid, empty key ring")
    func empty() throws {
        let ring = try KeyRing.parse("keys: []\n", source: "keys.yaml")
        #expect(ring.entries.isEmpty)
        #expect(ring.entry(forID: "x") == nil)
    }

    static let badKeys: [(key: String, problem: String)] = {
        let good = Fixtures.keys[0]
        let allButLast = String(good.dropLast())
        let allButFirst = String(good.dropFirst())
        let tail = String(good.dropFirst(5))
        return [
            (allButLast, "a CURVE public key is 40 Z85 characters; this one has 39"),
            (good + "x", "a CURVE public key is 40 Z85 characters; this one has 41"),
            (allButLast + ",", "a CURVE public key is Z85; ',' at position 40 is not a Z85 character"),
            ("\\" + allButFirst, "a CURVE public key is Z85; '\\' at position 1 is not a Z85 character"),
            ("#####" + tail, "'#####" + tail + "' is not valid Z85: characters 1–5 encode more than 32 bits"),
            (String(repeating: "0", count: 35) + "%nSc1",
             "'" + String(repeating: "0", count: 35) + "%nSc1' is not valid Z85: characters 36–40 encode more than 32 bits"),
        ]
    }()

    @Test("public keys must be 40 characters of the Z85 alphabet that decode to 32 bytes", arguments: badKeys)
    func badPublicKeys(key: String, problem: String) throws {
        #expect(KeyRing.publicKeyProblem(key) == problem)
        let text = "keys:\n  - id: a\n    layer: domain\n    public: '\(key)'\n"
        let error = try #require(Fixtures.keysError(text))
        #expect(error == ConfigurationError(file: "keys.yaml", line: 4, problem: "key entry 'a': \(problem)"))
    }

    static let goodKeys: [String] = [
        Fixtures.keys[0], Fixtures.keys[1],
        "%nSc0" + String(repeating: "0", count: 35),
        "0#$%@0}{][0)(><0&?*/0!^=+0:-.Z0zA9a0####",
    ]

    @Test("valid keys, including the special Z85 characters and the largest 32-bit group, have no problem", arguments: goodKeys)
    func goodPublicKeys(key: String) {
        #expect(KeyRing.publicKeyProblem(key) == nil)
    }

    struct InvalidKeys: Sendable, CustomTestStringConvertible {
        var name: String
        var text: String
        var line: Int
        var problem: String
        var testDescription: String { name }
    }

    static let invalid: [InvalidKeys] = [
        .init(name: "not a mapping", text: "- id: a\n", line: 1, problem: "the keys file must be a mapping with keys keys, not a list"),
        .init(name: "empty", text: "\n", line: 1, problem: "the keys file is empty; expected a mapping with 'keys'"),
        .init(name: "unknown top-level key", text: "keys: []\nsecrets: []\n", line: 2,
              problem: "unknown key 'secrets' in the keys file (expected: keys)"),
        .init(name: "missing keys", text: "# comment\nother: 1\n", line: 2, problem: "unknown key 'other' in the keys file (expected: keys)"),
        .init(name: "keys not a list", text: "keys:\n  id: a\n", line: 2,
              problem: "'keys' must be a list such as [] or a list of {id, layer, public} mappings, not a mapping"),
        .init(name: "unknown entry key", text: "keys:\n  - id: a\n    layer: domain\n    secret: 'x'\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "unknown key 'secret' in key entry 'a' (expected: id, role, layer, capabilities, observer, admin, readers, public)"),
        .init(name: "missing id", text: "keys:\n  - layer: domain\n    public: '\(Fixtures.keys[0])'\n", line: 2,
              problem: "key entry #1 is missing 'id'"),
        .init(name: "invalid agent id", text: "keys:\n  - id: db.agent\n    layer: domain\n    public: '\(Fixtures.keys[0])'\n", line: 2,
              problem: "agent id 'db.agent' contains '.'; allowed: A-Z a-z 0-9 _ -"),
        .init(name: "agent without layer", text: "keys:\n  - id: a\n    public: '\(Fixtures.keys[0])'\n", line: 2,
              problem: "key entry 'a' is missing 'layer'"),
        .init(name: "invalid layer", text: "keys:\n  - id: a\n    layer: Domain\n    public: '\(Fixtures.keys[0])'\n", line: 3,
              problem: "key entry 'a': layer 'Domain' contains 'D'; allowed: a-z 0-9 _ -"),
        .init(name: "gateway with a layer", text: "keys:\n  - id: g\n    role: gateway\n    layer: domain\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "key entry 'g': a gateway has no layer; remove 'layer' or make it role: agent"),
        .init(name: "gateway with capabilities", text: "keys:\n  - id: g\n    role: gateway\n    capabilities: [quote]\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "key entry 'g': a gateway offers no capabilities; remove 'capabilities'"),
        .init(name: "capabilities not a list", text: "keys:\n  - id: a\n    layer: domain\n    capabilities: quote\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "key entry 'a': 'capabilities' must be a list such as [quote, pricing.rates], not a string"),
        .init(name: "invalid capability", text: "keys:\n  - id: a\n    layer: domain\n    capabilities: [quote, 'bad cap']\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "key entry 'a': capability 'bad cap' contains ' '; allowed: A-Z a-z 0-9 _ - ."),
        .init(name: "observer not a boolean", text: "keys:\n  - id: a\n    layer: domain\n    observer: yes\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "key entry 'a': 'observer' must be true or false, not 'yes'"),
        .init(name: "admin not a boolean", text: "keys:\n  - id: a\n    layer: domain\n    admin: 1\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "key entry 'a': 'admin' must be true or false, not '1'"),
        .init(name: "gateway with readers", text: "keys:\n  - id: g\n    role: gateway\n    readers: [a]\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "key entry 'g': a gateway publishes no events; remove 'readers'"),
        .init(name: "invalid reader", text: "keys:\n  - id: a\n    layer: domain\n    readers: [b.c]\n    public: '\(Fixtures.keys[0])'\n",
              line: 4, problem: "key entry 'a': agent id 'b.c' contains '.'; allowed: A-Z a-z 0-9 _ -"),
        .init(name: "reader not in the file", text: "keys:\n  - id: a\n    layer: domain\n    readers: [b]\n    public: '\(Fixtures.keys[0])'\n",
              line: 2, problem: "key entry 'a': reader 'b' is not an id of this keys file"),
        .init(name: "unknown role", text: "keys:\n  - id: a\n    role: admin\n    layer: domain\n    public: '\(Fixtures.keys[0])'\n",
              line: 3, problem: "key entry 'a': unknown role 'admin' (expected agent or gateway)"),
        .init(name: "missing public key", text: "keys:\n  - id: a\n    layer: domain\n", line: 2, problem: "key entry 'a' is missing 'public'"),
        .init(name: "duplicate public key",
              text: "keys:\n  - id: a\n    layer: domain\n    public: '\(Fixtures.keys[0])'\n  - id: b\n    layer: domain\n    public: '\(Fixtures.keys[0])'\n",
              line: 5, problem: "the public key of 'b' is already the key of 'a' (line 2); every identity needs its own key pair"),
        .init(name: "duplicate id",
              text: "keys:\n  - id: a\n    layer: domain\n    public: '\(Fixtures.keys[0])'\n  - id: a\n    role: gateway\n    public: '\(Fixtures.keys[1])'\n",
              line: 5, problem: "duplicate id 'a' (also at line 2)"),
        .init(name: "unquoted key that YAML reads as an alias", text: "keys:\n  - id: a\n    layer: domain\n    public: *KNJ#7h+/YISPyG*c)GmAzwXsk.Kc=4>-?:Hem]k\n",
              line: 4, problem: "invalid YAML: while scanning an alias (line 4) did not find expected alphabetic or numeric character (column 17); "
                  + "put the public key in quotes (Z85 uses characters YAML treats specially)"),
        .init(name: "unquoted key that YAML reads as an anchor", text: "keys:\n  - id: a\n    layer: domain\n    public: &abc\n",
              line: 4, problem: "key entry 'a': 'public' must be a string, not nothing"),
    ]

    @Test("an invalid keys file is refused with the offending line", arguments: invalid)
    func refused(_ invalid: InvalidKeys) throws {
        let error = try #require(Fixtures.keysError(invalid.text))
        #expect(error == ConfigurationError(file: "keys.yaml", line: invalid.line, problem: invalid.problem))
    }

    @Test("agents' layers are checked against a policy, naming the entry's line")
    func checkAgainstPolicy() throws {
        let policy = try Policy.parse("version: 1\nlayers: [domain, infrastructure]\ndefault: deny\nrules: []\n", source: "p.yaml")
        let ring = try KeyRing.parse(Self.valid, source: "keys.yaml")
        try ring.check(against: policy)
        let narrower = try Policy.parse("version: 1\nlayers: [infrastructure]\ndefault: deny\nrules: []\n", source: "p.yaml")
        #expect(throws: ConfigurationError(file: "keys.yaml", line: 8,
                                           problem: "agent 'Pricing_2' is in layer 'domain', which the policy p.yaml does not list (infrastructure)")) {
            try ring.check(against: narrower)
        }
    }
}
