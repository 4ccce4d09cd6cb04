import ParleyWire

/// The checks of a keys file against the rules of keys and against a policy (kept apart from the lookups, which
/// the fuzz build compiles on their own).
extension KeyRing {
    /// Why `key` is not a 40-character Z85 CURVE key, or nil when it is one.
    public static func publicKeyProblem(_ key: String) -> String? {
        Z85.keyProblem(key)
    }

    /// Checks that every agent's layer is one of `policy`'s layers.
    ///
    /// - Throws: ``ConfigurationError`` in this key ring's file, at the first entry whose layer the policy lacks.
    public func check(against policy: Policy) throws(ConfigurationError) {
        for entry in entries {
            if let layer = entry.layer, !policy.layers.contains(layer) {
                throw ConfigurationError(file: source, line: entry.line,
                                         problem: "agent '\(entry.id)' is in layer '\(layer)', which the policy \(policy.source) "
                                             + "does not list (\(policy.layers.joined(separator: ", ")))")
            }
        }
    }
}
