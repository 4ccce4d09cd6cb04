/// A problem in a configuration file (a policy or a keys file), naming the file, the line and the problem.
///
/// Its `description` is one line, `path:line: problem`, the form compilers use, so editors and terminals
/// can jump to it; `path: problem` when no line applies (the file could not be read at all).
public struct ConfigurationError: Error, Sendable, CustomStringConvertible, Equatable {
    /// The file's path as given to `load(path:)`, or the `source` given to `parse(_:source:)`.
    public var file: String
    /// The 1-based line of the offending node, or 0 when the problem is not tied to a line.
    public var line: Int
    /// What is wrong, in words that say what to change.
    public var problem: String

    /// Makes an error for `file` at `line` (0 when unknown).
    public init(file: String, line: Int, problem: String) {
        self.file = file
        self.line = line
        self.problem = problem
    }

    /// `path:line: problem`, or `path: problem` when `line` is 0.
    public var description: String { line == 0 ? "\(file): \(problem)" : "\(file):\(line): \(problem)" }
}
