import Foundation
import ParleyOperations
import Testing

/// A loader with one setting of each kind, as a process would declare them.
private let loader = ConfigurationLoader(program: "parley-test", environmentPrefix: "PARLEY_TEST_", settings: [
    Setting("endpoint", .endpoint, default: "tcp://127.0.0.1:7410", help: "Where."),
    Setting("heartbeat-ms", .integer(10...3_600_000), default: "1000", help: "How often."),
    Setting("max-body", .bytes(1_024...(256 << 20)), default: "1MiB", help: "How big."),
    Setting("policy", .path, default: "policy.yaml", help: "Which policy."),
    Setting("broker-key", .keyOrPath, default: nil, help: "The broker's key."),
    Setting("token", .secret, default: "dev", help: "A token."),
    Setting("log-format", .choice(["text", "json"]), default: "text", help: "Log format."),
    Setting("journal-sync", .boolean, default: "true", help: "Sync."),
    Setting("metrics-address", .address, default: "127.0.0.1", help: "Listen address."),
    Setting("secret-key", .path, default: nil, help: "A key file."),
])

@Suite("Configuration: file, environment and flags")
struct ConfigurationTests {
    private func file(_ text: String) throws -> (TemporaryFolder, String) {
        let folder = try TemporaryFolder()
        return (folder, try folder.write("process.yaml", text))
    }

    private func problem(_ body: () throws -> Void) -> ConfigurationProblem? {
        do {
            try body()
            return nil
        } catch let problem as ConfigurationProblem {
            return problem
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test("flags win over the environment, which wins over the file, which wins over the defaults; each value knows its source")
    func precedence() throws {
        let (folder, path) = try file("heartbeat-ms: 200\nmax-body: 64KiB\nlog-format: json\n")
        _ = folder
        let configuration = try loader.load(configFile: path, environment: ["PARLEY_TEST_MAX_BODY": "2MiB", "PARLEY_TEST_LOG_FORMAT": "text",
                                                                           "UNRELATED": "x"],
                                            flags: ["log-format": "json"])
        #expect(configuration.string("endpoint") == "tcp://127.0.0.1:7410")
        #expect(configuration["endpoint"].source == .builtIn)
        #expect(configuration.integer("heartbeat-ms") as Int == 200)
        #expect(configuration["heartbeat-ms"].source == .file(path: path, line: 1))
        #expect(configuration.integer("max-body") as Int == 2 << 20)
        #expect(configuration["max-body"].source == .environment(name: "PARLEY_TEST_MAX_BODY"))
        #expect(configuration.string("log-format") == "json")
        #expect(configuration["log-format"].source == .flag(name: "--log-format"))
        #expect(configuration.text("secret-key") == nil)
    }

    @Test("the config file can come from PREFIX_CONFIG; --config wins over it")
    func configFromEnvironment() throws {
        let (folder, path) = try file("heartbeat-ms: 300\n")
        let other = try folder.write("other.yaml", "heartbeat-ms: 400\n")
        let fromEnvironment = try loader.load(configFile: nil, environment: ["PARLEY_TEST_CONFIG": path], flags: [:])
        #expect(fromEnvironment.integer("heartbeat-ms") as Int == 300)
        let fromFlag = try loader.load(configFile: other, environment: ["PARLEY_TEST_CONFIG": path], flags: [:])
        #expect(fromFlag.integer("heartbeat-ms") as Int == 400)
    }

    @Test("an unknown key is refused at its line, with the key it probably meant")
    func unknownKey() throws {
        let (folder, path) = try file("# a comment\nendpoint: tcp://127.0.0.1:1\nheartbeat: 200\n")
        _ = folder
        let found = problem { _ = try loader.load(configFile: path, environment: [:], flags: [:]) }
        #expect(found?.description == "\(path):3: unknown setting 'heartbeat' (did you mean 'heartbeat-ms'?)")
        let (folder2, snake) = try file("max_body: 1MiB\n")
        _ = folder2
        #expect(problem { _ = try loader.load(configFile: snake, environment: [:], flags: [:]) }?.problem.contains("did you mean 'max-body'?") == true)
    }

    @Test("a value of the wrong kind is refused at its line, saying what would be right")
    func badValues() throws {
        let cases: [(String, String)] = [
            ("heartbeat-ms: 5", "heartbeat-ms must be a whole number from 10 to 3600000, not '5'"),
            ("heartbeat-ms: fast", "heartbeat-ms must be a whole number from 10 to 3600000, not 'fast'"),
            ("max-body: 1mb", "max-body must be a byte count"),
            ("endpoint: 127.0.0.1:7410", "endpoint must be a ZeroMQ endpoint such as tcp://127.0.0.1:7410"),
            ("endpoint: tcp://host", "a tcp endpoint needs a port"),
            ("log-format: xml", "log-format must be one of text, json, not 'xml'"),
            ("journal-sync: maybe", "journal-sync must be true or false"),
            ("metrics-address: localhost", "metrics-address must be an IP address"),
            ("heartbeat-ms: [1, 2]", "'heartbeat-ms' takes a single value, not a list"),
            ("heartbeat-ms:", "'heartbeat-ms' has no value; give one or remove the line to keep the default (1000)"),
        ]
        for (line, expected) in cases {
            let (folder, path) = try file("# settings\n" + line + "\n")
            _ = folder
            let found = problem { _ = try loader.load(configFile: path, environment: [:], flags: [:]) }
            #expect(found?.location == "\(path):2", "\(line)")
            #expect(found?.problem.contains(expected) == true, "\(line): \(found?.problem ?? "no problem")")
        }
    }

    @Test("YAML syntax errors, duplicate keys and non-mappings name their line")
    func syntax() throws {
        let cases: [(String, Int, String)] = [
            ("endpoint: tcp://127.0.0.1:1\nheartbeat-ms: 200\n  max-body: 1MiB\n", 3, "invalid YAML"),
            ("heartbeat-ms: 200\nendpoint: tcp://127.0.0.1:1\nheartbeat-ms: 300\n", 3, "key 'heartbeat-ms' appears more than once"),
            ("- heartbeat-ms\n", 1, "must be a mapping of settings"),
            ("endpoint: \"tcp://127.0.0.1:1\n", 2, "while scanning a quoted scalar (line 1)"),
        ]
        for (text, line, expected) in cases {
            let (folder, path) = try file(text)
            _ = folder
            let found = problem { _ = try loader.load(configFile: path, environment: [:], flags: [:]) }
            #expect(found?.location == "\(path):\(line)", "\(text)")
            #expect(found?.problem.contains(expected) == true, "\(text): \(found?.problem ?? "no problem")")
        }
    }

    @Test("an empty file or one with comments only keeps every default; a missing file is refused")
    func emptyAndMissing() throws {
        let (folder, path) = try file("# nothing set yet\n")
        _ = folder
        let configuration = try loader.load(configFile: path, environment: [:], flags: [:])
        #expect(configuration["heartbeat-ms"].source == .builtIn)
        let missing = problem { _ = try loader.load(configFile: "/nonexistent/parley.yaml", environment: [:], flags: [:]) }
        #expect(missing?.description == "--config: cannot read the config file /nonexistent/parley.yaml: No such file or directory")
        let named = problem {
            _ = try loader.load(configFile: nil, environment: ["PARLEY_TEST_CONFIG": "/nonexistent/parley.yaml"], flags: [:])
        }
        #expect(named?.location == "environment variable PARLEY_TEST_CONFIG")
    }

    @Test("environment variables are checked too, and one that names no setting is refused")
    func environment() throws {
        let bad = problem { _ = try loader.load(configFile: nil, environment: ["PARLEY_TEST_HEARTBEAT_MS": "x"], flags: [:]) }
        #expect(bad?.description == "environment variable PARLEY_TEST_HEARTBEAT_MS: heartbeat-ms must be a whole number from 10 to 3600000, not 'x'")
        let typo = problem { _ = try loader.load(configFile: nil, environment: ["PARLEY_TEST_HEARTBEAT": "200"], flags: [:]) }
        #expect(typo?.description == "environment variable PARLEY_TEST_HEARTBEAT: names no setting of parley-test (did you mean 'PARLEY_TEST_HEARTBEAT_MS'?)")
        let flag = problem { _ = try loader.load(configFile: nil, environment: [:], flags: ["max-body": "12"]) }
        #expect(flag?.location == "--max-body")
    }

    @Test("relative paths in a file are relative to its folder; keys, '-' and absolute paths stay as they are")
    func paths() throws {
        let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        let (folder, path) = try file("policy: policy.yaml\nsecret-key: /etc/parley/broker.key\nbroker-key: \"\(key)\"\n")
        let configuration = try loader.load(configFile: path, environment: [:], flags: [:])
        #expect(configuration.string("policy") == folder.path + "/policy.yaml")
        #expect(configuration.string("secret-key") == "/etc/parley/broker.key")
        #expect(configuration.string("broker-key") == key)
        let fromFlag = try loader.load(configFile: path, environment: [:], flags: ["policy": "mine.yaml"])
        #expect(fromFlag.string("policy") == "mine.yaml")
        let (otherFolder, other) = try file("broker-key: broker.pub\n")
        #expect(try loader.load(configFile: other, environment: [:], flags: [:]).string("broker-key") == otherFolder.path + "/broker.pub")
    }

    @Test("the rendered configuration is YAML with each value's source, secrets redacted, and loads back the same")
    func rendered() throws {
        let (folder, path) = try file("heartbeat-ms: 250\ntoken: s3cret\nmax-body: 2MiB\n")
        let configuration = try loader.load(configFile: path, environment: ["PARLEY_TEST_JOURNAL_SYNC": "off"], flags: ["log-format": "json"])
        let text = configuration.rendered()
        #expect(!text.contains("s3cret"))
        #expect(text.contains("token: \"<redacted>\""))
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("heartbeat-ms: 250 ") && $0.hasSuffix("# file \(path):1") })
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("journal-sync: false ") && $0.hasSuffix("# env PARLEY_TEST_JOURNAL_SYNC") })
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("log-format: json ") && $0.hasSuffix("# flag --log-format") })
        #expect(text.split(separator: "\n").contains { $0.hasPrefix("secret-key: ~ ") && $0.hasSuffix("# default") })
        let again = try folder.write("again.yaml", text.replacingOccurrences(of: "\"<redacted>\"", with: "other"))
        let reloaded = try loader.load(configFile: again, environment: [:], flags: [:])
        for key in ["endpoint", "heartbeat-ms", "max-body", "log-format", "journal-sync"] {
            #expect(reloaded.text(key) == configuration.text(key), "\(key)")
        }
        // A relative path that did not come from a file is relative to the working directory; in a file, to its folder.
        #expect(reloaded.text("policy") == folder.path + "/policy.yaml")
    }
}

/// A temporary folder removed when released.
final class TemporaryFolder: Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "parley-operations-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
