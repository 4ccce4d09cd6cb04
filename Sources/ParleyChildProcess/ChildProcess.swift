#if canImport(Glibc)
import Glibc
#endif
import Subprocess
import Synchronization
import SystemPackage

/// A child process run with swift-subprocess in a task of its own until it exits, its output read as it comes;
/// signalled by process id. The one launcher of the tests, the benchmark harness and the chaos harness. Nothing
/// here blocks a thread.
public final class ChildProcess: Sendable {
    /// Where one of the child's output streams goes.
    public enum Destination: Sendable {
        /// Kept in memory, readable as lines (`outputLines`, `errorLines`, `nextLine`).
        case keep
        /// Copied to this process's stream of the same kind, so that it reaches the terminal.
        case inherit
        /// Appended to the file at this path (created when missing).
        case file(String)
        /// Written to this descriptor (a pipe's write end, say), which is closed when the stream ends.
        case descriptor(Int32)
        /// Dropped.
        case discard
    }

    /// A name for messages about it.
    public let name: String
    public let processIdentifier: Int32
    private let record: ChildRecord
    private let runner: Task<Void, Never>

    /// Starts `executable` (a path) with `arguments`, `environment` added to this process's own, and returns once
    /// it runs. `standardInput` is a descriptor the child reads (a pipe's read end, say; closed here once the
    /// child has it), /dev/null when nil. Throws when it cannot be started.
    public init(name: String, executable: String, arguments: [String], environment: [String: String] = [:],
                standardInput: Int32? = nil, standardOutput: Destination = .keep, standardError: Destination = .inherit) async throws {
        self.name = name
        let record = ChildRecord()
        self.record = record
        let output = try OutputSink(standardOutput, standardStream: 1, keep: { text in record.withLock { $0.output += text } })
        let errors = try OutputSink(standardError, standardStream: 2, keep: { text in record.withLock { $0.errors += text } })
        let (started, starting) = AsyncStream.makeStream(of: Int32.self)
        let environment = Environment.inherit.updating(environment.reduce(into: [:]) { $0[.init(stringLiteral: $1.key)] = $1.value })
        let input = try standardInput.map(FileDescriptor.init(rawValue:)) ?? FileDescriptor.open("/dev/null", .readOnly, options: .closeOnExec)
        runner = Task {
            var status = "could not be started"
            var code: Int32 = -1
            do {
                let result = try await run(.path(FilePath(executable)), arguments: Arguments(arguments), environment: environment,
                                           input: .fileDescriptor(input, closeAfterSpawningProcess: true),
                                           output: .sequence, error: .sequence) { execution in
                    let pid = execution.processIdentifier.value
                    record.withLock { $0.processIdentifier = pid }
                    ChildRegistry.add(pid)
                    starting.yield(pid)
                    async let errorsRead: Void = errors.drain(execution.standardError)
                    try await output.drain(execution.standardOutput)
                    try await errorsRead
                }
                (code, status) = (result.terminationStatus.code, result.terminationStatus.summary)
            } catch {
                status = "failed: \(error)"
            }
            output.close()
            errors.close()
            record.withLock { $0.exit = (code, status) }
            if let pid = record.withLock({ $0.processIdentifier }) { ChildRegistry.remove(pid) }
            starting.finish()
        }
        guard let pid = await started.first(where: { _ in true }) else {
            throw ChildProcessError("cannot start \(name) (\(executable)): \(record.withLock { $0.exit?.description ?? "?" })")
        }
        processIdentifier = pid
    }

    /// Whether it has not exited yet.
    public var isRunning: Bool { record.withLock { $0.exit == nil } }

    /// How it ended (the exit status, or the number of the signal that ended it); nil while it runs.
    public var exitStatus: Int32? { record.withLock { $0.exit?.code } }

    /// How it ended, for people: "exit status 0", "killed by signal 9", or "running".
    public var exitDescription: String { record.withLock { $0.exit?.description ?? "running" } }

    /// The lines of standard output kept so far (with `.keep`).
    public var outputLines: [String] { Self.lines(record.withLock { $0.output }) }

    /// The lines of standard error kept so far (with `.keep`).
    public var errorLines: [String] { Self.lines(record.withLock { $0.errors }) }

    /// The next line of standard output not returned yet (with `.keep`), waiting at most `timeout`; nil when time
    /// runs out. Throws when the process exited before printing a whole line more.
    public func nextLine(timeout: Duration) async throws -> String? {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (line, exited) = record.withLock { state -> (String?, Bool) in
                guard let newline = state.output[state.read...].firstIndex(of: "\n") else { return (nil, state.exit != nil) }
                defer { state.read = state.output.index(after: newline) }
                return (String(state.output[state.read..<newline]), false)
            }
            if let line { return line }
            if exited { throw ChildProcessError("\(name) ended (\(exitDescription)) before printing what was expected") }
            guard ContinuousClock.now < deadline else { return nil }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Reads lines of standard output until one satisfies `accept` and returns it; throws when `timeout` passes or
    /// the process ends first, naming `what` was awaited.
    public func waitForLine(timeout: Duration, what: String, where accept: (String) -> Bool) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while let line = try await nextLine(timeout: deadline - ContinuousClock.now) {
            if accept(line) { return line }
        }
        throw ChildProcessError("\(name) did not print \(what) within \(timeout)")
    }

    /// Sends `signal` (only while it runs, so that the pid cannot be another process's).
    public func signal(_ signal: Int32) {
        if isRunning { kill(processIdentifier, signal) }
    }

    /// Sends `signal` (0: none, only wait; SIGCONT follows, so that a paused process gets it) and waits up to
    /// `grace` for the process to exit, then SIGKILL; returns how it ended (as `exitStatus`).
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, grace: Duration = .seconds(10)) async -> Int32 {
        if signal != 0 {
            self.signal(signal)
            self.signal(SIGCONT)
        }
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(5)) }
        self.signal(SIGKILL)
        self.signal(SIGCONT)
        await runner.value
        return exitStatus ?? -1
    }

    deinit {
        signal(SIGKILL)
        signal(SIGCONT)
    }

    private static func lines(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }
}

/// A child process could not be started, or did not do what was awaited.
public struct ChildProcessError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a child printed and how it ended, written by the task running it and read by its owner.
private final class ChildRecord: Sendable {
    struct State {
        var output = ""
        /// Where `nextLine` goes on reading `output`.
        var read: String.Index
        var errors = ""
        var exit: (code: Int32, description: String)?
        var processIdentifier: Int32?

        init() { read = output.startIndex }
    }

    private let state = Mutex(State())

    func withLock<Result>(_ body: (inout State) -> Result) -> Result {
        state.withLock { body(&$0) }
    }
}
