/// A YAML node reduced to what configuration files use (strings, lists, mappings with string keys), each with
/// its 1-based line, so every problem can be reported where it is.
struct ConfigurationNode {
    /// A mapping entry: a string key, the key's line, and the value.
    struct Entry {
        var key: String
        var line: Int
        var value: ConfigurationNode
    }

    /// The shapes a node can have.
    enum Shape {
        /// A scalar's text; `isNull` when it is a plain `~`, `null` or nothing at all.
        case scalar(String, isNull: Bool)
        /// A sequence.
        case list([ConfigurationNode])
        /// A mapping, in file order.
        case mapping([Entry])
    }

    /// The node's shape and contents.
    var shape: Shape
    /// The 1-based line where the node starts (0 when unknown).
    var line: Int

    /// "a string", "a list" or "a mapping", for messages.
    var shapeName: String {
        switch shape {
        case .scalar(_, let isNull): isNull ? "nothing" : "a string"
        case .list: "a list"
        case .mapping: "a mapping"
        }
    }
}

/// Builds ``ConfigurationError``s for one source and reads typed values out of ``ConfigurationNode``s.
struct ConfigurationReader {
    /// The file's path, or the name given to `parse`.
    var source: String

    /// An error at `line`.
    func error(_ line: Int, _ problem: String) -> ConfigurationError {
        ConfigurationError(file: source, line: line, problem: problem)
    }

    /// The text of a scalar with a value; `what` names it in errors ("'from'").
    func text(_ node: ConfigurationNode, _ what: String) throws(ConfigurationError) -> String {
        guard case .scalar(let text, let isNull) = node.shape, !isNull else {
            throw error(node.line, "\(what) must be a string, not \(node.shapeName)")
        }
        return text
    }

    /// The items of a list; `what` names it in errors, `example` shows the expected form.
    func list(_ node: ConfigurationNode, _ what: String, example: String) throws(ConfigurationError) -> [ConfigurationNode] {
        guard case .list(let items) = node.shape else {
            throw error(node.line, "\(what) must be a list such as \(example), not \(node.shapeName)")
        }
        return items
    }

    /// The fields of a mapping, refusing keys not in `allowed` (naming them).
    ///
    /// `what` names the mapping in errors ("rule #2"); when `nameKey` holds a string, errors name the mapping by it
    /// instead ("rule 'app-to-domain'"), since that is what the reader of the file looks for.
    func fields(_ node: ConfigurationNode, _ what: String, allowed: [String],
                nameKey: String? = nil, kind: String = "") throws(ConfigurationError) -> Fields {
        guard case .mapping(let entries) = node.shape else {
            throw error(node.line, "\(what) must be a mapping with keys \(allowed.joined(separator: ", ")), not \(node.shapeName)")
        }
        var label = what
        if let nameKey, let named = entries.first(where: { $0.key == nameKey }),
           case .scalar(let name, isNull: false) = named.value.shape {
            label = "\(kind) '\(name)'"
        }
        for entry in entries where !allowed.contains(entry.key) {
            throw error(entry.line, "unknown key '\(entry.key)' in \(label) (expected: \(allowed.joined(separator: ", ")))")
        }
        return Fields(reader: self, what: label, line: node.line, entries: entries)
    }

    /// A mapping's entries by key, checked against the allowed keys.
    struct Fields {
        /// The reader, for errors.
        var reader: ConfigurationReader
        /// The mapping's name in errors.
        var what: String
        /// The mapping's line, where missing keys are reported.
        var line: Int
        /// The entries in file order (keys are unique: the YAML parser refuses duplicates).
        var entries: [ConfigurationNode.Entry]

        /// The value of `key`, or nil.
        func optional(_ key: String) -> ConfigurationNode? {
            entries.first { $0.key == key }?.value
        }

        /// The value of `key`; an error at the mapping's line when it is missing.
        func required(_ key: String) throws(ConfigurationError) -> ConfigurationNode {
            guard let value = optional(key) else { throw reader.error(line, "\(what) is missing '\(key)'") }
            return value
        }
    }
}
