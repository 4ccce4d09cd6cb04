import Foundation
import Logging

/// The first steps both executables take: load and check the configuration, answer `--print-config`, set up
/// logging, and log the start.
public enum ProcessStartup {
    /// What the executable does next.
    public enum Next {
        /// Go on with this configuration and logger.
        case run(EffectiveConfiguration, Logger)
        /// `--print-config` printed the configuration: exit 0.
        case exit
        /// The configuration was refused (the reason is printed): exit with `StartupReport.configurationExitStatus`.
        case refused
    }

    /// The signal dispositions both executables need before anything else, called first thing in `main`: SIGPIPE
    /// is ignored for good (a write to a closed pipe or socket fails with EPIPE instead of ending the process), and
    /// SIGHUP until a service handles it (the gateway reloads its policy; the broker ignores it).
    public static func installSignalDispositions() {
        signal(SIGPIPE, SIG_IGN)
        signal(SIGHUP, SIG_IGN)
    }

    /// Loads the configuration from `configFile`, the environment and `flags`, checks it with `check`, and
    /// either prints it (`printConfig`), refuses it, or sets up logging and logs the start.
    public static func begin(program: String, loader: ConfigurationLoader, configFile: String?, flags: [String: String],
                             printConfig: Bool,
                             check: (EffectiveConfiguration) throws(ConfigurationProblem) -> Void) -> Next {
        let configuration: EffectiveConfiguration
        do throws(ConfigurationProblem) {
            configuration = try loader.load(configFile: configFile, environment: ProcessInfo.processInfo.environment, flags: flags)
            try check(configuration)
        } catch {
            StartupReport.refuse(program, "\(error)")
            return .refused
        }
        if printConfig {
            print(configuration.rendered(), terminator: "")
            return .exit
        }
        LogSetup.bootstrap(format: LogFormat(rawValue: configuration.string("log-format"))!,
                           level: Logger.Level(rawValue: configuration.string("log-level"))!)
        let logger = Logger(label: program)
        logger.notice("starting", metadata: ["event": "start", "pid": .stringConvertible(getpid()), "config": "\(configuration.configFile ?? "none")"])
        return .run(configuration, logger)
    }
}
