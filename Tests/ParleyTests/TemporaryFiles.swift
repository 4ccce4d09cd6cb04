import Foundation

/// A temporary folder for files a test writes (policies, keys, audit logs), removed when released.
final class TemporaryFolder: Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "parley-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `text` to `name` in the folder and returns its path.
    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        let file = path + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    /// The lines of `name` (empty when it does not exist yet).
    func lines(_ name: String) -> [String] {
        ((try? String(contentsOfFile: path + "/" + name, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A policy with the given rules (each a YAML mapping body, indented by the caller as list items).
func policyYAML(_ rules: String) -> String {
    """
    version: 1
    layers: [presentation, application, domain, infrastructure]
    default: deny
    rules:
    \(rules)
    """
}

/// The rule letting the domain call infrastructure, with an optional rate.
func domainToInfrastructureRule(rate: String? = nil, maxPayload: String = "64KiB") -> String {
    """
      - name: domain-uses-infrastructure
        comment: The domain reaches infrastructure through its ports.
        from: domain
        to: infrastructure
        kinds: [help, clarification, call]
        max_payload: \(maxPayload)
    """ + (rate.map { "\n    rate: \($0)" } ?? "")
}
