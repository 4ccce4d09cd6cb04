/// One `key: value` line of a flat configuration file (a process's config file), with its line.
package struct FlatConfigurationEntry: Equatable, Sendable {
    /// The key as written.
    package var key: String
    /// The 1-based line of the key.
    package var line: Int
    /// The value's text; nil for `~`, `null` or nothing.
    package var value: String?
}

extension ConfigurationFile {
    /// The entries of `text`, a flat mapping of single values, in file order ([] for an empty document or comments
    /// only). Anything else — another shape, a list or mapping as a value, a key set twice, bad YAML — is refused at
    /// its line.
    package static func flatEntries(_ text: String, source: String) throws(ConfigurationError) -> [FlatConfigurationEntry] {
        guard let root = try YAMLComposer.compose(text, source: source) else { return [] }
        guard case .mapping(let entries) = root.shape else {
            throw ConfigurationError(file: source, line: max(root.line, 1),
                                     problem: "the file must be a mapping of settings (key: value lines), not \(root.shapeName)")
        }
        var flat: [FlatConfigurationEntry] = []
        for entry in entries {
            guard case .scalar(let value, let isNull) = entry.value.shape else {
                throw ConfigurationError(file: source, line: entry.value.line,
                                         problem: "'\(entry.key)' takes a single value, not \(entry.value.shapeName)")
            }
            flat.append(FlatConfigurationEntry(key: entry.key, line: entry.line, value: isNull ? nil : value))
        }
        return flat
    }
}
