import Foundation
import ParleyPolicy
import Testing

/// Paths and files the policy tests share.
enum Fixtures {
    /// The repository's root, found from this file's path (Tests/ParleyPolicyTests/TestSupport.swift).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// deploy/policy.yaml, the default policy operators start from.
    static let defaultPolicyPath = repositoryRoot.appendingPathComponent("deploy/policy.yaml").path

    /// deploy/keys.example.yaml.
    static let exampleKeysPath = repositoryRoot.appendingPathComponent("deploy/keys.example.yaml").path

    /// A valid policy used as a base for edits: one rule starting at line 5 and one at line 11.
    static let smallPolicy = """
        version: 1
        layers: [presentation, application, domain, infrastructure]
        default: deny
        rules:
          - name: ui-to-app
            comment: The UI drives use cases.
            from: presentation
            to: application
            kinds: [help, call]
            max_payload: 64KiB
          - name: app-to-domain
            comment: Use cases use the domain.
            from: application
            to: domain
            kinds: [call]
            max_payload: 1000
            rate: 2/s

        """

    /// Valid Z85 CURVE public keys, all different.
    static let keys = [
        "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID",
        "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7",
        "t/(-D3hPq]NK5vF:VWUKbU:N0Nw^9pvq?x/ICz57",
        "p48-tGsn0%q+(j@ol@HuCk=+vKD2Bs3FoWH([QKc",
    ]

    /// Parses `text` as a policy and returns the error it must raise.
    static func policyError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationError? {
        do {
            let policy = try Policy.parse(text, source: "test.yaml")
            Issue.record("expected an error, got a policy with \(policy.rules.count) rules", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }

    /// Parses `text` as a keys file and returns the error it must raise.
    static func keysError(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationError? {
        do {
            let ring = try KeyRing.parse(text, source: "keys.yaml")
            Issue.record("expected an error, got \(ring.entries.count) keys", sourceLocation: sourceLocation)
            return nil
        } catch {
            return error
        }
    }
}

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("parley-policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Writes `contents` to `name` inside the directory and returns its path.
    func write(_ name: String, _ contents: String) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(contents.utf8).write(to: file)
        return file.path
    }

    /// Writes raw bytes to `name` inside the directory and returns its path.
    func write(_ name: String, bytes: [UInt8]) throws -> String {
        let file = url.appendingPathComponent(name)
        try Data(bytes).write(to: file)
        return file.path
    }

    func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
