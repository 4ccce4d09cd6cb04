/// Resolves a process's settings from, lowest precedence first, the built-in defaults, a config file, the
/// environment and the command line, checking every value where it comes from.
///
/// A problem anywhere stops resolution with one ``ConfigurationProblem`` naming the place: the file and line,
/// the environment variable, or the flag.
public struct ConfigurationLoader: Sendable {
    /// The process's name, for `--print-config`'s header.
    public let program: String
    /// The prefix of the process's environment variables, such as `PARLEY_BROKER_`.
    public let environmentPrefix: String
    /// Every setting the process has, in the order `--print-config` lists them.
    public let settings: [Setting]

    public init(program: String, environmentPrefix: String, settings: [Setting]) {
        precondition(Set(settings.map(\.key)).count == settings.count, "setting keys must be unique")
        self.program = program
        self.environmentPrefix = environmentPrefix
        self.settings = settings
    }

    /// The environment variable naming the config file when `--config` is not given: `PREFIX_CONFIG`.
    public var configEnvironmentName: String { environmentPrefix + "CONFIG" }

    /// `--help` text for the setting `key`: its help, default and environment variable.
    public func help(_ key: String) -> String {
        guard let setting = settings.first(where: { $0.key == key }) else { preconditionFailure("\(program) has no setting \(key)") }
        let fallback = setting.defaultValue.map { "default: \($0)" } ?? "unset by default"
        return "\(setting.help) (\(fallback); env \(setting.environmentName(prefix: environmentPrefix)))"
    }

    /// The effective configuration.
    ///
    /// - Parameters:
    ///   - configFile: the `--config` flag's value, if given; otherwise the `PREFIX_CONFIG` variable, if set.
    ///   - environment: the process environment; every variable starting with the prefix must name a setting.
    ///   - flags: the values given on the command line, by key.
    public func load(configFile: String?, environment: [String: String], flags: [String: String])
        throws(ConfigurationProblem) -> EffectiveConfiguration {
        var values: [String: EffectiveConfiguration.Value] = [:]
        for setting in settings {
            let normalised = setting.defaultValue.map { text -> String in
                guard case .success(let value) = setting.kind.validate(text) else { preconditionFailure("bad default for \(setting.key)") }
                return value
            }
            values[setting.key] = .init(text: normalised, source: .builtIn)
        }
        let file = configFile ?? environment[configEnvironmentName].flatMap { $0.isEmpty ? nil : $0 }
        if let file {
            try apply(file: file, namedBy: configFile == nil ? "environment variable \(configEnvironmentName)" : "--config", to: &values)
        }
        try apply(environment: environment, to: &values)
        for (key, text) in flags.sorted(by: { $0.key < $1.key }) {
            guard let setting = setting(key) else { preconditionFailure("flag for unknown setting \(key)") }
            let source = SettingSource.flag(name: "--\(key)")
            values[key] = .init(text: try check(text, for: setting, from: source), source: source)
        }
        return EffectiveConfiguration(program: program, configFile: file, settings: settings, values: values)
    }

    private func setting(_ key: String) -> Setting? { settings.first { $0.key == key } }

    private func apply(file: String, namedBy: String, to values: inout [String: EffectiveConfiguration.Value])
        throws(ConfigurationProblem) {
        let folder = file.contains("/") ? String(file[...file.lastIndex(of: "/")!]) : ""
        for entry in try ConfigurationFileReader.read(path: file, namedBy: namedBy) {
            let source = SettingSource.file(path: file, line: entry.line)
            guard let setting = setting(entry.key) else {
                throw ConfigurationProblem(location: source.location, problem: "unknown setting '\(entry.key)'" + suggestion(for: entry.key))
            }
            guard let text = entry.value else {
                guard setting.defaultValue == nil else {
                    throw ConfigurationProblem(location: source.location, problem:
                        "'\(setting.key)' has no value; give one or remove the line to keep the default (\(setting.defaultValue!))")
                }
                values[setting.key] = .init(text: nil, source: source)
                continue
            }
            var checked = try check(text, for: setting, from: source)
            if setting.kind.isRelativePath(checked) { checked = folder + checked }
            values[setting.key] = .init(text: checked, source: source)
        }
    }

    private func apply(environment: [String: String], to values: inout [String: EffectiveConfiguration.Value]) throws(ConfigurationProblem) {
        let byName = Dictionary(uniqueKeysWithValues: settings.map { ($0.environmentName(prefix: environmentPrefix), $0) })
        for (name, text) in environment.sorted(by: { $0.key < $1.key }) where name.hasPrefix(environmentPrefix) {
            guard name != configEnvironmentName else { continue }
            let source = SettingSource.environment(name: name)
            guard let setting = byName[name] else {
                let key = String(name.dropFirst(environmentPrefix.count)).lowercased().map { $0 == "_" ? "-" : $0 }
                throw ConfigurationProblem(location: source.location, problem: "names no setting of \(program)"
                    + suggestion(for: String(key), environment: true))
            }
            values[setting.key] = .init(text: try check(text, for: setting, from: source), source: source)
        }
    }

    private func check(_ text: String, for setting: Setting, from source: SettingSource) throws(ConfigurationProblem) -> String {
        switch setting.kind.validate(text) {
        case .success(let value): return value
        case .failure(let mismatch):
            if case .flag = source { throw ConfigurationProblem(location: source.location, problem: mismatch.problem) }
            throw ConfigurationProblem(location: source.location, problem: "\(setting.key) \(mismatch.problem)")
        }
    }

    /// ` (did you mean 'heartbeat-ms'?)` when a known key is close to `key`, else ``.
    private func suggestion(for key: String, environment: Bool = false) -> String {
        let normalised = key.lowercased().map { $0 == "_" ? "-" : $0 }
        let candidate = settings.map(\.key).min { editDistance(normalised, $0) < editDistance(normalised, $1) }
        guard let candidate, editDistance(normalised, candidate) <= max(2, candidate.count / 4)
                || candidate.hasPrefix(String(normalised)) || String(normalised).hasPrefix(candidate) else {
            return environment ? "" : "; \(program)'s settings are listed by --print-config"
        }
        let name = environment ? Setting(candidate, .text, default: nil, help: "").environmentName(prefix: environmentPrefix) : candidate
        return " (did you mean '\(name)'?)"
    }
}

/// The Levenshtein distance between two short strings.
func editDistance(_ a: some Collection<Character>, _ b: some Collection<Character>) -> Int {
    let a = Array(a), b = Array(b)
    guard !a.isEmpty else { return b.count }
    guard !b.isEmpty else { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
