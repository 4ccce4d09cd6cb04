import Foundation
import ParleyChildProcess
import Testing

/// The sanitizer the suite runs under, if any (fuzz/sanitizers/test.sh sets PARLEY_SANITIZER to thread or
/// address): tests whose figures it skews (peak memory, volume within a timeout) adapt to it.
let activeSanitizer = ProcessInfo.processInfo.environment["PARLEY_SANITIZER"]

/// One of the package's executables (the real ones, from the build folder) run as a child process, stopped by
/// process id: a ``ChildProcess`` that printed its ready line.
final class TestProcess: Sendable {
    private let child: ChildProcess
    /// The line that matched the ready prefix.
    let readyLine: String

    /// The folder holding the built executables: next to the test bundle, or $PARLEY_BUILD_DIR.
    static var buildDirectory: URL {
        if let override = ProcessInfo.processInfo.environment["PARLEY_BUILD_DIR"] {
            return URL(fileURLWithPath: override)
        }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    /// Starts `executable` with `arguments` and waits until a stdout line starts with `readyPrefix`.
    /// `environment` is added to the test's own; with `captureStandardError`, `stderrLines` collects its logs.
    /// `launched` runs with the process id as soon as the process is started, before waiting for the ready line.
    init(_ executable: String, _ arguments: [String], readyPrefix: String, environment: [String: String] = [:],
         captureStandardError: Bool = false, launched: @Sendable (Int32) async throws -> Void = { _ in }) async throws {
        let path = Self.buildDirectory.appendingPathComponent(executable).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("\(path) is not built; run `swift build` first")
        }
        child = try await ChildProcess(name: executable, executable: path, arguments: arguments, environment: environment,
                                       standardError: captureStandardError ? .keep : .discard)
        try await launched(child.processIdentifier)
        do {
            readyLine = try await child.waitForLine(timeout: .seconds(30), what: "'\(readyPrefix)'") { $0.hasPrefix(readyPrefix) }
        } catch {
            throw TestFailure("\(error); it printed: \(child.outputLines)")
        }
    }

    var processIdentifier: Int32 { child.processIdentifier }

    /// The stdout lines printed so far.
    var stdoutLines: [String] { child.outputLines }

    /// The stderr lines printed so far (empty unless started with `captureStandardError`).
    var stderrLines: [String] { child.errorLines }

    /// Whether the process has not exited yet.
    var isRunning: Bool { child.isRunning }

    /// Sends `signal` and returns at once.
    func signal(_ signal: Int32) {
        child.signal(signal)
    }

    /// Sends SIGTERM and returns at once.
    func terminate() {
        child.signal(SIGTERM)
    }

    /// Sends `signal` (0: none, only wait) and waits (bounded) for the process to exit, with SIGKILL if it does not;
    /// returns its exit status (the signal's number when a signal ended it).
    @discardableResult
    func stop(signal: Int32 = SIGTERM) async -> Int32 {
        await child.stop(signal: signal)
    }
}

/// A broker process on an ephemeral loopback port.
final class BrokerProcess: Sendable {
    let child: TestProcess
    let endpoint: String
    let eventsEndpoint: String

    /// Starts `parley-broker` with fast heartbeats (so lost agents are noticed quickly) plus `arguments`.
    /// `environment` and `captureStandardError` go to ``TestProcess``.
    init(_ arguments: [String] = [], environment: [String: String] = [:], captureStandardError: Bool = false) async throws {
        child = try await TestProcess("parley-broker",
                                      ["--endpoint", "tcp://127.0.0.1:*", "--events-endpoint", "tcp://127.0.0.1:*", "--heartbeat-ms", "200", "--liveness", "3"] + arguments,
                                      readyPrefix: "parley-broker ready on ", environment: environment,
                                      captureStandardError: captureStandardError)
        let parts = child.readyLine.split(separator: " ")
        endpoint = String(parts[3])
        eventsEndpoint = String(parts[5])
    }

    /// Sends SIGTERM without waiting: the broker may drain for a while, and a test must not block Swift's
    /// cooperative pool waiting for it (the process is killed when the test releases it, if still running).
    func stop() { child.terminate() }
}

/// A gateway process in front of `broker`, on an ephemeral loopback port (or the given endpoint).
final class GatewayProcess: Sendable {
    let child: TestProcess
    let endpoint: String

    init(broker: BrokerProcess, policy: String, auditLog: String, endpoint: String = "tcp://127.0.0.1:*",
         arguments: [String] = [], environment: [String: String] = [:], captureStandardError: Bool = false,
         launched: @Sendable (Int32) async throws -> Void = { _ in }) async throws {
        child = try await TestProcess("parley-gateway", ["--endpoint", endpoint, "--broker", broker.endpoint, "--policy", policy,
                                                         "--audit-log", auditLog, "--heartbeat-ms", "200"] + arguments,
                                      readyPrefix: "parley-gateway ready on ", environment: environment,
                                      captureStandardError: captureStandardError, launched: launched)
        self.endpoint = String(child.readyLine.dropFirst("parley-gateway ready on ".count))
    }

    /// A gateway whose policy (in `folder`) lets the domain call infrastructure with bodies up to `maxPayload`,
    /// auditing to `folder`/audit.jsonl.
    convenience init(broker: BrokerProcess, in folder: TemporaryFolder, maxPayload: String = "64KiB", arguments: [String] = [],
                     environment: [String: String] = [:], captureStandardError: Bool = false,
                     launched: @Sendable (Int32) async throws -> Void = { _ in }) async throws {
        try await self.init(broker: broker, policy: try folder.write("policy.yaml", policyYAML(domainToInfrastructureRule(maxPayload: maxPayload))),
                            auditLog: folder.path + "/audit.jsonl", arguments: arguments, environment: environment,
                            captureStandardError: captureStandardError, launched: launched)
    }

    /// Sends SIGTERM without waiting.
    func stop() { child.terminate() }

    /// Sends SIGKILL and waits for the process to be gone (so its port is free for a restart).
    func kill() async {
        await child.stop(signal: SIGKILL)
    }
}

/// A failure raised by test support code.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
