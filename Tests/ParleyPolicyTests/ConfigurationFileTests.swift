import ParleyPolicy
import Testing

@Suite("Loading configuration files from disk")
struct ConfigurationFileTests {
    @Test("a policy file loads and names its path as its source")
    func loadsPolicy() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write("policy.yaml", Fixtures.smallPolicy)
        let policy = try Policy.load(path: path)
        #expect(policy.source == path)
        #expect(policy.rules.map(\.name) == ["ui-to-app", "app-to-domain"])
    }

    @Test("a bad policy file's error names the file's path and the line")
    func badPolicyFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write("bad.yaml", Fixtures.smallPolicy.replacingFirst("to: domain", with: "to: nowhere"))
        #expect(throws: ConfigurationError(file: path, line: 14, problem:
            "rule 'app-to-domain': 'to' layer 'nowhere' is not one of the layers (presentation, application, domain, infrastructure)")) {
            try Policy.load(path: path)
        }
    }

    @Test("a missing file is an error at line 0 saying why")
    func missingFile() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.url.appendingPathComponent("absent.yaml").path
        #expect(throws: ConfigurationError(file: path, line: 0, problem: "cannot read the file: No such file or directory")) {
            try Policy.load(path: path)
        }
        #expect(throws: ConfigurationError(file: path, line: 0, problem: "cannot read the file: No such file or directory")) {
            try KeyRing.load(path: path)
        }
    }

    @Test("a directory is an error at line 0")
    func directoryPath() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        #expect(throws: ConfigurationError(file: directory.url.path, line: 0, problem: "cannot read the file: Is a directory")) {
            try Policy.load(path: directory.url.path)
        }
    }

    @Test("bytes that are not UTF-8 are refused at their line")
    func notUTF8() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write("latin1.yaml", bytes: Array("version: 1\nlayers: [a]\n# caf".utf8) + [0xE9] + Array("\n".utf8))
        #expect(throws: ConfigurationError(file: path, line: 3, problem: "the file is not valid UTF-8 text")) {
            try Policy.load(path: path)
        }
    }

    @Test("a keys file loads from disk")
    func loadsKeys() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = try directory.write("keys.yaml", KeyRingTests.valid)
        let ring = try KeyRing.load(path: path)
        #expect(ring.source == path)
        #expect(ring.entries.count == 3)
        #expect(ring.entry(forPublicKey: Fixtures.keys[0])?.id == "db-agent")
    }

    @Test("deploy/keys.example.yaml is valid and fits the default policy's layers")
    func exampleKeys() throws {
        let ring = try KeyRing.load(path: Fixtures.exampleKeysPath)
        #expect(ring.entries.count >= 2)
        #expect(ring.entries.contains { $0.role == .gateway && $0.layer == nil })
        #expect(Set(ring.entries.compactMap(\.layer)) == ["presentation", "application", "domain", "infrastructure"])
        try ring.check(against: Policy.load(path: Fixtures.defaultPolicyPath))
    }
}
