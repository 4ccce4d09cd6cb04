import Foundation
import ParleyChildProcess

#if canImport(Glibc)
import Glibc
#endif

/// One process of the chaos cluster: a ``ChildProcess`` whose standard output and error go to a log file, driven
/// from the orchestrator's thread (which blocks while a child starts or stops; it is not a task). Children are
/// wrapped in `setpriv --pdeathsig KILL` when that tool exists, so that they die with the harness even if it is
/// itself killed (swift-subprocess spawns from one long-lived thread of its own, whose end is the harness's).
final class ChaosProcess {
    let name: String
    let logPath: String
    private let child: ChildProcess
    /// Paused with SIGSTOP and not resumed yet.
    private(set) var stopped = false

    private static let setpriv: String? = FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") ? "/usr/bin/setpriv" : nil

    /// Starts `executable` with `arguments`; its output is appended to `logPath`.
    init(name: String, executable: String, arguments: [String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        var (path, argv) = (executable, arguments)
        if let setpriv = Self.setpriv {
            (path, argv) = (setpriv, ["--pdeathsig", "KILL", "--", executable] + arguments)
        }
        child = try blockingWait { [path, argv] in
            try await ChildProcess(name: name, executable: path, arguments: argv, standardOutput: .file(logPath), standardError: .file(logPath))
        }
    }

    /// True while the process has not exited.
    var isRunning: Bool { child.isRunning }

    /// How it ended (exit status, or the signal's number); nil while it runs.
    var exitStatus: Int32? { child.exitStatus }

    /// How the process ended, for people.
    var exitDescription: String { child.exitDescription }

    /// Sends `signal` to the process (only while it runs, so the pid cannot be someone else's).
    func send(_ signal: Int32) {
        child.signal(signal)
        if signal == SIGSTOP { stopped = true }
        if signal == SIGCONT || signal == SIGKILL { stopped = false }
    }

    /// `kill -9` and wait for it to be gone.
    func killHard() {
        stop(signal: SIGKILL, grace: 0)
    }

    /// Asks the process to stop (SIGCONT follows, in case it is paused), waits up to `grace` seconds, then kills it.
    func terminate(grace: Double) {
        stop(signal: SIGTERM, grace: grace)
    }

    private func stop(signal: Int32, grace: Double) {
        let child = child
        _ = try? blockingWait { await child.stop(signal: signal, grace: .milliseconds(Int(grace * 1_000))) }
        stopped = false
    }

    /// Waits for a line of the log that starts with `prefix`; nil when the process exits first or time runs out.
    func waitForLine(prefix: String, timeout: Double) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let text = try? String(contentsOfFile: logPath, encoding: .utf8),
               let line = text.split(separator: "\n").last(where: { $0.hasPrefix(prefix) }) {
                return String(line)
            }
            if !isRunning { return nil }
            usleep(20_000)
        }
        return nil
    }
}

/// An error the harness reports and stops on.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
