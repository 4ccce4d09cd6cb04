import Foundation
import Testing

/// The sanitizer the suite runs under, if any (fuzz/sanitizers/test.sh sets PARLEY_SANITIZER to thread or
/// address): tests whose figures it skews (peak memory, volume within a timeout) adapt to it.
let activeSanitizer = ProcessInfo.processInfo.environment["PARLEY_SANITIZER"]

/// A child process started from the package's build folder (the real executables), stopped by process id.
final class TestProcess: @unchecked Sendable {
    let process = Process()
    private let output = Pipe()
    private let errorOutput = Pipe()
    /// Everything the process printed on stdout so far (guarded by `lock`).
    private var printed = ""
    /// Everything it printed on stderr so far, when captured (guarded by `lock`).
    private var printedErrors = ""
    private let lock = NSLock()

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
        let url = Self.buildDirectory.appendingPathComponent(executable)
        guard FileManager.default.isExecutableFile(atPath: url.path) else {
            throw TestFailure("\(url.path) is not built; run `swift build` first")
        }
        process.executableURL = url
        process.arguments = arguments
        process.standardOutput = output
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        if captureStandardError {
            process.standardError = errorOutput
            errorOutput.fileHandleForReading.readabilityHandler = { [weak self] handle in
                let data = handle.availableData
                guard let self, !data.isEmpty else { return }
                self.lock.withLock { self.printedErrors += String(decoding: data, as: UTF8.self) }
            }
        } else {
            process.standardError = FileHandle.nullDevice
        }
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let data = handle.availableData
            guard let self, !data.isEmpty else { return }
            self.lock.withLock { self.printed += String(decoding: data, as: UTF8.self) }
        }
        try process.run()
        try await launched(process.processIdentifier)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let line = stdoutLines.first(where: { $0.hasPrefix(readyPrefix) }) {
                readyLine = line
                return
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        stop()
        throw TestFailure("\(executable) did not print '\(readyPrefix)'; it printed: \(stdoutLines)")
    }

    /// The line that matched the ready prefix.
    private(set) var readyLine = ""

    /// The stdout lines printed so far.
    var stdoutLines: [String] { lock.withLock { printed.split(separator: "\n").map(String.init) } }

    /// The stderr lines printed so far (empty unless started with `captureStandardError`).
    var stderrLines: [String] { lock.withLock { printedErrors.split(separator: "\n").map(String.init) } }

    /// Closes the reading end of the process's standard output: its next write there fails (EPIPE, or SIGPIPE).
    func closeStandardOutput() {
        output.fileHandleForReading.readabilityHandler = nil
        try? output.fileHandleForReading.close()
    }

    /// Sends SIGTERM and returns at once.
    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    }

    /// Sends `signal` and waits (bounded) for the process to exit; SIGKILL if it does not.
    @discardableResult
    func stop(signal: Int32 = SIGTERM) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if process.standardError as? Pipe === errorOutput {
            usleep(100_000)  // the readability handler takes the last lines the process wrote
        }
        output.fileHandleForReading.readabilityHandler = nil
        errorOutput.fileHandleForReading.readabilityHandler = nil
        return process.terminationStatus
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
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

    /// SIGKILL waits for the process to be gone (so its port is free for a restart); SIGTERM does not wait.
    func stop(signal: Int32 = SIGTERM) {
        if signal == SIGTERM { child.terminate() } else { child.stop(signal: signal) }
    }
}

/// A failure raised by test support code.
struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
