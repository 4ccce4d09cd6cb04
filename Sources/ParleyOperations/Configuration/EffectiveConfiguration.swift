import ParleyPolicy

/// The values a process runs with, each with where it came from. Every value has been checked against its
/// setting's kind, so the typed accessors only convert.
public struct EffectiveConfiguration: Sendable {
    /// One setting's value and source.
    public struct Value: Sendable {
        /// The value as text (normalised: byte counts in bytes, relative paths from a file joined to its folder);
        /// nil when unset.
        public var text: String?
        public var source: SettingSource
    }

    /// The process's name.
    public let program: String
    /// The config file that was read, if any.
    public let configFile: String?
    /// The settings, in listing order.
    public let settings: [Setting]
    private let values: [String: Value]

    init(program: String, configFile: String?, settings: [Setting], values: [String: Value]) {
        self.program = program
        self.configFile = configFile
        self.settings = settings
        self.values = values
    }

    /// The value and source of `key` (a key the process declared).
    public subscript(key: String) -> Value {
        guard let value = values[key] else { preconditionFailure("no setting '\(key)'") }
        return value
    }

    /// The text of `key`, or nil when unset.
    public func text(_ key: String) -> String? { self[key].text }

    /// The text of a setting that has a default (so it always has a value).
    public func string(_ key: String) -> String {
        guard let text = self[key].text else { preconditionFailure("setting '\(key)' has no value") }
        return text
    }

    /// The value of an integer or bytes setting.
    public func integer<Number: FixedWidthInteger>(_ key: String, as type: Number.Type = Number.self) -> Number {
        guard let value = Number(string(key)) else { preconditionFailure("setting '\(key)' is not a \(Number.self)") }
        return value
    }

    /// The value of a boolean setting.
    public func boolean(_ key: String) -> Bool { string(key) == "true" }

    /// A problem with the value of `key`, reported where the value came from (for checks across settings).
    public func problem(_ key: String, _ words: String) -> ConfigurationProblem {
        ConfigurationProblem(location: self[key].source.location, problem: words)
    }

    /// `error` reported where the setting naming its file was set (`gateway.yaml:3: policy: /etc/…: cannot read
    /// the file: …`) when it has no line of its own because the file could not be read; otherwise `error` itself.
    public func locating(_ error: any Error) -> any Error {
        guard let error = error as? ConfigurationError, error.line == 0,
              let setting = settings.first(where: { values[$0.key]?.text == error.file }) else { return error }
        return problem(setting.key, "\(setting.key): \(error)")
    }

    /// The effective configuration as YAML that could be a config file again, each line commented with its source:
    /// `heartbeat-ms: 200  # flag --heartbeat-ms`. Secrets are replaced by `<redacted>`.
    public func rendered() -> String {
        var lines = ["# \(program): effective configuration" + (configFile.map { " (config file \($0))" } ?? " (no config file)"),
                     "# precedence: flag > environment > file > default"]
        let width = settings.map { $0.key.count + 2 + shown($0).count }.max() ?? 0
        for setting in settings {
            let left = "\(setting.key): \(shown(setting))"
            lines.append(left + String(repeating: " ", count: max(1, width - left.count + 2)) + "# \(self[setting.key].source)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func shown(_ setting: Setting) -> String {
        guard let text = self[setting.key].text else { return "~" }
        switch setting.kind {
        case .secret: return "\"<redacted>\""
        case .integer, .bytes, .boolean, .choice: return text
        default: return yamlQuoted(text)
        }
    }
}

/// `text` in YAML double quotes, escaping what needs it.
func yamlQuoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20: out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
