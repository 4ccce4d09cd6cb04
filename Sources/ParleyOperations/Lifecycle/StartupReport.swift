#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How an executable reports a start-up it refuses: one line on standard output, where the ready line would have
/// gone (standard error carries the logs), then an exit status telling a supervisor whether retrying can help.
public enum StartupReport {
    /// EX_CONFIG from sysexits.h: the configuration is wrong; restarting will not help. The systemd units list it
    /// in `RestartPreventExitStatus=`.
    public static let configurationExitStatus: Int32 = 78

    /// Prints `program: message` as one line on standard output and flushes it.
    public static func refuse(_ program: String, _ message: String) {
        print("\(program): \(message.split(whereSeparator: \.isNewline).joined(separator: " "))")
        fflush(nil)
    }
}
