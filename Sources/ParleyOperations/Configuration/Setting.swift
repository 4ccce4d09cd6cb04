/// One configurable value of a process: the same key names it everywhere.
///
/// `heartbeat-ms` is `heartbeat-ms:` in the config file, `--heartbeat-ms` on the command line and
/// `PARLEY_BROKER_HEARTBEAT_MS` in the environment (the prefix is the process's).
public struct Setting: Sendable {
    /// The key: lowercase words joined by `-`.
    public let key: String
    /// What values it takes; values are checked against it wherever they come from.
    public let kind: SettingKind
    /// The built-in value as text, or nil when the setting is unset by default.
    public let defaultValue: String?
    /// One sentence for `--help`-like listings and error messages.
    public let help: String

    /// A setting named `key`.
    public init(_ key: String, _ kind: SettingKind, default defaultValue: String?, help: String) {
        self.key = key
        self.kind = kind
        self.defaultValue = defaultValue
        self.help = help
    }

    /// The environment variable that overrides it: `prefix` + the key in upper case with `_` for `-`.
    public func environmentName(prefix: String) -> String {
        prefix + key.uppercased().replacingDashes()
    }
}

/// The values a setting accepts.
public enum SettingKind: Sendable {
    /// Any non-empty text.
    case text
    /// Non-empty text that `--print-config` does not show (tokens).
    case secret
    /// A ZeroMQ endpoint: `tcp://host:port`, `ipc://path` or `inproc://name`.
    case endpoint
    /// A file path. In a config file a relative path is relative to the file's folder; `-` stays `-`.
    case path
    /// A whole number in the range; `_` may separate digit groups (`10_000`).
    case integer(ClosedRange<Int64>)
    /// A byte count in the range: a whole number, optionally with `B`, `KiB`, `MiB` or `GiB`.
    case bytes(ClosedRange<Int64>)
    /// One of the listed words.
    case choice([String])
    /// An IP address to listen on: IPv4 dotted (`127.0.0.1`, `0.0.0.0`) or IPv6 (`::1`, `::`).
    case address
    /// `true` or `false` (also `yes`/`no`, `on`/`off`); kept as `true` or `false`.
    case boolean
    /// A 40-character Z85 CURVE key, or a file holding one (a path, resolved like ``path``).
    case keyOrPath
}

/// Where an effective value came from, lowest precedence first.
public enum SettingSource: Sendable, Equatable, CustomStringConvertible {
    /// The built-in default.
    case builtIn
    /// A config file, with the 1-based line of the key.
    case file(path: String, line: Int)
    /// An environment variable.
    case environment(name: String)
    /// A command-line flag.
    case flag(name: String)

    /// `default`, `file PATH:LINE`, `env NAME`, `flag --NAME`.
    public var description: String {
        switch self {
        case .builtIn: "default"
        case .file(let path, let line): "file \(path):\(line)"
        case .environment(let name): "env \(name)"
        case .flag(let name): "flag \(name)"
        }
    }

    /// Where a value from here is reported in errors: `PATH:LINE`, the variable, or the flag.
    var location: String {
        switch self {
        case .builtIn: "default"
        case .file(let path, let line): "\(path):\(line)"
        case .environment(let name): "environment variable \(name)"
        case .flag(let name): name
        }
    }
}

/// A configuration that cannot be used: one line saying where and what.
///
/// Its description is `LOCATION: problem`, where LOCATION is `path:line` for a config file (the form compilers
/// use, so terminals and editors jump to it), an environment variable's name, or a flag.
public struct ConfigurationProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// `path:line`, `environment variable NAME`, or `--flag`.
    public let location: String
    /// What is wrong and what would be right.
    public let problem: String

    public init(location: String, problem: String) {
        self.location = location
        self.problem = problem
    }

    public var description: String { "\(location): \(problem)" }
}

extension String {
    func replacingDashes() -> String { String(map { $0 == "-" ? "_" : $0 }) }
}
