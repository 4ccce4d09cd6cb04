#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
internal import Yams

/// A process's config file: a flat YAML mapping from setting keys to single values, each with its line.
struct ConfigurationFileEntry {
    /// The key as written.
    var key: String
    /// The 1-based line of the key.
    var line: Int
    /// The value's text; nil for `~`, `null` or nothing.
    var value: String?
}

/// Reads a config file, refusing anything that is not a flat mapping of single values with a
/// ``ConfigurationProblem`` at `path:line`.
enum ConfigurationFileReader {
    /// Config files are a few kilobytes; anything larger is a mistake (a log file given by accident).
    static let maxBytes = 1 << 20

    /// The entries of the file at `path`, in file order; a file that cannot be read is reported at `namedBy`,
    /// the flag or environment variable that gave its path.
    static func read(path: String, namedBy: String) throws(ConfigurationProblem) -> [ConfigurationFileEntry] {
        try parse(try readText(path: path, namedBy: namedBy), source: path)
    }

    /// The entries of `text`, reported as coming from `source`.
    static func parse(_ text: String, source: String) throws(ConfigurationProblem) -> [ConfigurationFileEntry] {
        func problem(_ line: Int, _ words: String) -> ConfigurationProblem {
            ConfigurationProblem(location: "\(source):\(line)", problem: words)
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            let (line, words) = describe(error, text: text)
            throw problem(line, words)
        } catch {
            throw problem(1, "invalid YAML: \(error)")
        }
        guard let root else { return [] }  // empty, or comments only: every setting keeps its default
        guard case .mapping(let mapping) = root else {
            throw problem(root.mark?.line ?? 1, "the file must be a mapping of settings (key: value lines), not \(shape(root))")
        }
        var entries: [ConfigurationFileEntry] = []
        for (key, value) in mapping {
            let line = key.mark?.line ?? 0
            guard case .scalar(let keyScalar) = key else {
                throw problem(line, "a setting's key must be a plain word, not \(shape(key))")
            }
            guard case .scalar(let valueScalar) = value else {
                throw problem(value.mark?.line ?? line, "'\(keyScalar.string)' takes a single value, not \(shape(value))")
            }
            let isNull = valueScalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(valueScalar.string)
            entries.append(ConfigurationFileEntry(key: keyScalar.string, line: line, value: isNull ? nil : valueScalar.string))
        }
        return entries
    }

    private static func shape(_ node: Node) -> String {
        switch node {
        case .scalar: "a single value"
        case .sequence: "a list"
        case .mapping: "a mapping"
        case .alias: "an alias"
        }
    }

    /// The line and words for a YAML error.
    private static func describe(_ error: YamlError, text: String) -> (Int, String) {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _), let .composer(context, problem, mark, _):
            let started = context.map { "\($0.text) (line \($0.mark.line)) " } ?? ""
            return (mark.line, "invalid YAML: \(started)\(problem) (column \(mark.column))")
        case let .reader(problem, offset, _, _):
            let line = offset.map { text.utf8.prefix($0).reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 } } ?? 1
            return (line, "invalid YAML: \(problem)")
        case let .duplicatedKeysInMapping(duplicates, _):
            let key = duplicates.first.map { "\($0)" } ?? "?"
            return (lastLine(startingWith: key, in: text), "'\(key)' is set twice; keep one line")
        default:
            return (1, "invalid YAML: \(error)")
        }
    }

    /// The last line whose text starts with `key:` (flat files have their keys at column 1).
    private static func lastLine(startingWith key: String, in text: String) -> Int {
        var found = 1
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            for quote in ["", "\"", "'"] where line.hasPrefix("\(quote)\(key)\(quote)") {
                if line.dropFirst(key.count + 2 * quote.count).drop(while: { $0 == " " }).first == ":" { found = index + 1 }
            }
        }
        return found
    }

    /// The file's bytes as UTF-8 text; refused at `namedBy` when it cannot be read, at the line of the first bad
    /// byte when it is not UTF-8.
    private static func readText(path: String, namedBy: String) throws(ConfigurationProblem) -> String {
        func problem(_ words: String) -> ConfigurationProblem { ConfigurationProblem(location: namedBy, problem: words) }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw problem("cannot read the config file \(path): \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { readBytes(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw problem("cannot read the config file \(path): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maxBytes { throw problem("the config file \(path) is larger than 1 MiB; is it the right file?") }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            var line = 1
            var decoder = UTF8()
            var iterator = bytes.makeIterator()
            while case .scalarValue(let scalar) = decoder.decode(&iterator) {  // stops at the first bad byte
                if scalar == "\n" { line += 1 }
            }
            throw ConfigurationProblem(location: "\(path):\(line)", problem: "the file is not valid UTF-8 text")
        }
        return text
    }
}

/// `read(2)`, named apart from ``ConfigurationFileReader/read(path:)``.
private func readBytes(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}
