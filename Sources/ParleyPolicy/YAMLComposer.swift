internal import Yams

/// Turns YAML text into a ``ConfigurationNode`` tree, translating every Yams error into a ``ConfigurationError``
/// at the line Yams reports.
enum YAMLComposer {
    /// The single document in `text`, or nil when the text holds none (empty, or comments only).
    static func compose(_ text: String, source: String) throws(ConfigurationError) -> ConfigurationNode? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw translate(error, text: text, source: source)
        } catch {
            throw ConfigurationError(file: source, line: 0, problem: "invalid YAML: \(error)")
        }
        guard let root else { return nil }
        return try convert(root, source: source)
    }

    private static func line(_ mark: Mark?) -> Int { mark?.line ?? 0 }

    private static func convert(_ node: Node, source: String) throws(ConfigurationError) -> ConfigurationNode {
        switch node {
        case .scalar(let scalar):
            let isNull = scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
            return ConfigurationNode(shape: .scalar(scalar.string, isNull: isNull), line: line(scalar.mark))
        case .sequence(let sequence):
            var items: [ConfigurationNode] = []
            for item in sequence { items.append(try convert(item, source: source)) }
            return ConfigurationNode(shape: .list(items), line: line(sequence.mark))
        case .mapping(let mapping):
            var entries: [ConfigurationNode.Entry] = []
            for (key, value) in mapping {
                guard case .scalar(let keyScalar) = key else {
                    throw ConfigurationError(file: source, line: line(key.mark),
                                             problem: "a mapping key must be a plain word, not a list or a mapping")
                }
                entries.append(.init(key: keyScalar.string, line: line(keyScalar.mark), value: try convert(value, source: source)))
            }
            return ConfigurationNode(shape: .mapping(entries), line: line(mapping.mark))
        case .alias(let alias):
            throw ConfigurationError(file: source, line: line(alias.mark), problem: "unresolved YAML alias '\(alias.anchor)'")
        }
    }

    private static func translate(_ error: YamlError, text: String, source: String) -> ConfigurationError {
        func syntax(_ context: YamlError.Context?, _ problem: String, _ mark: Mark) -> ConfigurationError {
            var words = "invalid YAML: "
            if let context { words += "\(context.text) (line \(context.mark.line)) " }
            words += "\(problem) (column \(mark.column))"
            return ConfigurationError(file: source, line: mark.line, problem: words)
        }
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            return syntax(context, problem, mark)
        case let .reader(problem, offset, _, _):
            let line = offset.map { text.prefix($0).reduce(1) { $1 == "\n" || $1 == "\r\n" ? $0 + 1 : $0 } } ?? 0
            return ConfigurationError(file: source, line: line, problem: "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, context):
            let key = duplicates.first ?? "?"
            return ConfigurationError(file: source, line: repeatedKeyLine(key, after: context.mark, in: text),
                                      problem: "key '\(key)' appears more than once in the same mapping")
        default:
            return ConfigurationError(file: source, line: 0, problem: "invalid YAML: \(error)")
        }
    }

    /// Where a key that Yams reports as duplicated appears again: the next line after its first occurrence
    /// with the key at the same column (block mappings), else the first occurrence.
    private static func repeatedKeyLine(_ key: String, after first: Mark, in text: String) -> Int {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        guard first.line >= 1, first.line < lines.count else { return first.line }
        for index in first.line..<lines.count {
            let scalars = lines[index].unicodeScalars
            let indent = scalars.prefix(first.column - 1)
            guard indent.count == first.column - 1, indent.allSatisfy({ $0 == " " || $0 == "-" }) else { continue }
            let rest = String(String.UnicodeScalarView(scalars.dropFirst(first.column - 1)))
            for quote in ["", "\"", "'"] where rest.hasPrefix("\(quote)\(key)\(quote)") {
                let after = rest.dropFirst(key.count + 2 * quote.count).drop { $0 == " " }
                if after.first == ":" { return index + 1 }
            }
        }
        return first.line
    }
}
