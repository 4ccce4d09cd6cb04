#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How an executable reports a start-up it refuses: one line on standard error (so `--print-config > file` and
/// scripts reading the ready line do not swallow it), then an exit status telling a supervisor whether retrying
/// can help.
public enum StartupReport {
    /// EX_CONFIG from sysexits.h: the configuration is wrong; restarting will not help. The systemd units list it
    /// in `RestartPreventExitStatus=`.
    public static let configurationExitStatus: Int32 = 78

    /// Writes `program: message` as one line on standard error, after flushing standard output.
    public static func refuse(_ program: String, _ message: String) {
        fflush(nil)
        var line = "\(program): \(message.split(whereSeparator: \.isNewline).joined(separator: " "))\n"
        line.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
