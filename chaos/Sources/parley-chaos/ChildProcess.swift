import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Every child process the harness started and has not reaped yet, so that the watchdog and the final
/// clean-up can kill them by process id whatever happened.
let liveChildren = Mutex<Set<pid_t>>([])

/// One child process started with `posix_spawn`, its standard output and error going to a log file.
///
/// Not thread-safe: the orchestrator thread owns it. Children are wrapped in `setpriv --pdeathsig KILL` when
/// that tool exists, so they die with the harness even if it is itself killed; that signal follows the
/// *thread* that spawned them, which is why only the long-lived orchestrator thread starts children.
final class ChildProcess {
    let name: String
    let pid: pid_t
    let logPath: String
    private(set) var exitStatus: Int32?
    private(set) var stopped = false

    private static let setpriv: String? = FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") ? "/usr/bin/setpriv" : nil

    /// Starts `executable` with `arguments`; output is appended to `logPath`.
    init(name: String, executable: String, arguments: [String], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        var argv = [executable] + arguments
        var path = executable
        if let setpriv = Self.setpriv {
            argv = [setpriv, "--pdeathsig", "KILL", "--"] + argv
            path = setpriv
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with no blocked signals and default dispositions, whatever this process set.
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let cArguments: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var child: pid_t = 0
        let result = posix_spawn(&child, path, &actions, &attributes, cArguments, environ)
        guard result == 0 else {
            throw HarnessError("cannot start \(name) (\(executable)): \(String(cString: strerror(result)))")
        }
        pid = child
        liveChildren.withLock { _ = $0.insert(child) }
    }

    /// True while the process has not exited (reaps it when it has).
    var isRunning: Bool {
        reap(block: false)
        return exitStatus == nil
    }

    /// Sends `signal` to the process (only while it has not been reaped, so the pid cannot be someone else's).
    func send(_ signal: Int32) {
        guard isRunning else { return }
        kill(pid, signal)
        if signal == SIGSTOP { stopped = true }
        if signal == SIGCONT || signal == SIGKILL { stopped = false }
    }

    /// `kill -9` and wait for it to be gone.
    func killHard() {
        send(SIGKILL)
        reap(block: true)
    }

    /// Asks the process to stop (SIGCONT first, in case it is paused), waits up to `grace`, then kills it.
    func terminate(grace: Double) {
        guard isRunning else { return }
        send(SIGCONT)
        send(SIGTERM)
        if !waitForExit(timeout: grace) { killHard() }
    }

    /// Waits up to `timeout` seconds for the process to exit by itself.
    @discardableResult
    func waitForExit(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() >= deadline { return false }
            usleep(20_000)
        }
        return true
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

    private func reap(block: Bool) {
        guard exitStatus == nil else { return }
        var status: Int32 = 0
        let result = waitpid(pid, &status, block ? 0 : WNOHANG)
        if result == pid || (result == -1 && errno == ECHILD) {
            exitStatus = status
            liveChildren.withLock { _ = $0.remove(pid) }
        }
    }

    /// How the process ended, for people.
    var exitDescription: String {
        guard let status = exitStatus else { return "running" }
        let signal = status & 0x7f
        return signal == 0 ? "exit \((status >> 8) & 0xff)" : "signal \(signal)"
    }
}

/// Kills every child still alive, by process id (SIGCONT first so paused ones can die cleanly, then SIGKILL).
func killAllChildren() {
    let pids = liveChildren.withLock { $0 }
    for pid in pids {
        kill(pid, SIGCONT)
        kill(pid, SIGKILL)
    }
}

/// An error the harness reports and stops on.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
