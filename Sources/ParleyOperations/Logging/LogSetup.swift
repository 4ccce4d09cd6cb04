import Logging

/// How a process writes its logs to standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's text lines, for people at a terminal (``TextLogHandler``: control characters escaped).
    case text
    /// One JSON object per line (``JSONLogHandler``), for log pipelines.
    case json
}

/// The logging set-up of an executable (libraries take a `Logger`; only executables choose the handler).
public enum LogSetup {
    /// The level names accepted by `--log-level`.
    public static let levelNames = Logger.Level.allCases.map(\.rawValue)

    /// Installs the process-wide handler: `format` on standard error at `level`. Call once, first thing.
    public static func bootstrap(format: LogFormat, level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            switch format {
            case .json:
                return JSONLogHandler(label: label, level: level)
            case .text:
                return TextLogHandler(label: label, level: level)
            }
        }
    }
}
