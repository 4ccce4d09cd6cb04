import ArgumentParser
import Foundation

/// `parley-bench`: request/reply round trips per second through the real `parley-broker`, compared in the
/// same run with a logic-free ROUTER-to-ROUTER forwarder, so that the machine's noise cancels out.
///
/// The requester, the responder and the forwarder each run in their own process (this executable with a
/// hidden subcommand); the broker is the `parley-broker` built next to this executable.
@main
struct ParleyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-bench",
        abstract: "Benchmarks parley-broker request/reply against a logic-free ZeroMQ forwarder.",
        discussion: "`parley-bench` alone runs `parley-bench run` with its defaults; see `parley-bench run --help`.",
        subcommands: [RunCommand.self, RequesterCommand.self, ResponderCommand.self, ForwarderCommand.self],
        defaultSubcommand: RunCommand.self
    )
}

/// `parley-bench run` (the default): starts every process of every scenario, measures, and reports.
/// Kept apart from the root command so that its options never capture the hidden subcommands' ones.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Runs the scenarios and prints the comparison.",
        discussion: """
            Scenarios, each with 100 requests in flight and then with 1: `forwarder` (requester → ROUTER/ROUTER \
            forwarder → echo worker, frames moved untouched) and `help-rr` (requester → parley-broker → echo \
            agent, REQUEST to cap:echo, DELIVER, REPLY, RESULT). The ratio is help-rr's rate over the \
            forwarder's, measured in the same run. Build with -c release before measuring.
            """
    )

    @Flag(help: "Run each scenario for 1 second (a smoke test, not a measurement).")
    var quick = false

    @Option(help: "Measured seconds per scenario.")
    var seconds = 5.0

    @Option(help: "Warm-up seconds before each measurement.")
    var warmup = 0.5

    @Option(name: .customLong("window"), help: "Requests in flight; repeat for several (default: 100 and 1).")
    var windows: [Int] = []

    @Option(help: "Run only these scenarios (forwarder, help-rr); repeatable.")
    var only: [ScenarioKind] = []

    @Option(help: "Body size in bytes.")
    var bodyBytes = 100

    @Option(help: "Repeat each forwarder/help-rr pair this many times, alternating, and report the median ratio.")
    var rounds = 1

    @Flag(help: "Print one JSON object per scenario on stdout (the lines for people go to stderr).")
    var json = false

    @Option(help: "The parley-broker executable (default: the one next to this executable).")
    var broker: String?

    @Option(name: .customLong("broker-arg"), parsing: .unconditionalSingleValue,
            help: "An extra argument for parley-broker (repeatable), e.g. --broker-arg=--dedupe-capacity=0.")
    var brokerArguments: [String] = []

    @Flag(help: "Print child process ids (for attaching a profiler).")
    var verbose = false

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard warmup >= 0 else { throw ValidationError("--warmup cannot be negative") }
        guard windows.allSatisfy({ $0 >= 1 }) else { throw ValidationError("--window must be at least 1") }
        guard bodyBytes >= 0 else { throw ValidationError("--body-bytes cannot be negative") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
    }

    func run() throws {
        ChildRegistry.installSignalHandlers()
        signal(SIGPIPE, SIG_IGN)
        let ownPath = try executablePath()
        let brokerPath = broker ?? (ownPath as NSString).deletingLastPathComponent + "/parley-broker"
        guard access(brokerPath, X_OK) == 0 else {
            throw BenchError("no executable parley-broker at \(brokerPath); build it first: "
                             + "swift build -c release --product parley-broker")
        }
        // Every endpoint on an ephemeral loopback port, so runs never collide with each other or a broker in use;
        // options are passed only when this broker build has them.
        let brokerHelp = try helpText(of: brokerPath)
        var brokerBaseArguments = ["--endpoint", "tcp://127.0.0.1:*"]
        if brokerHelp.contains("--events-endpoint") { brokerBaseArguments += ["--events-endpoint", "tcp://127.0.0.1:*"] }
        if brokerHelp.contains("--log-level") { brokerBaseArguments += ["--log-level", "error"] }
        let settings = Settings(benchPath: ownPath, brokerPath: brokerPath, brokerBaseArguments: brokerBaseArguments,
                                brokerArguments: brokerArguments,
                                seconds: quick ? 1 : seconds, warmup: quick ? min(warmup, 0.3) : warmup,
                                bodyBytes: bodyBytes, verbose: verbose)
        let report = Report(json: json)
        report.human("parley-bench: \(format(settings.seconds)) s per scenario after \(format(settings.warmup)) s warm-up, "
                     + "\(bodyBytes)-byte bodies, tcp loopback, \(ProcessInfo.processInfo.activeProcessorCount) cores"
                     + (quick ? " (--quick: a smoke test, not a measurement)" : ""))
        report.human("broker: " + ([brokerPath] + brokerBaseArguments + brokerArguments).joined(separator: " "))
        let kinds = only.isEmpty ? ScenarioKind.allCases : ScenarioKind.allCases.filter(only.contains)
        var results: [ScenarioResult] = []
        for window in windows.isEmpty ? [100, 1] : windows {
            for round in 1...rounds {
                var baseline: ScenarioResult?
                for kind in kinds {
                    var result = try Scenario(kind: kind, window: window, settings: settings).run()
                    result.round = round
                    if kind == .forwarder { baseline = result }
                    result.baseline = baseline
                    report.scenario(result)
                    results.append(result)
                }
            }
        }
        report.table(results)
        if rounds > 1 { report.medians(results) }
    }
}

/// The two things compared.
enum ScenarioKind: String, CaseIterable, ExpressibleByArgument, Sendable {
    case forwarder
    case helpRR = "help-rr"
}

/// What every scenario of one run shares.
struct Settings {
    let benchPath: String
    let brokerPath: String
    /// Endpoints and logging, chosen for this broker build.
    let brokerBaseArguments: [String]
    /// Extra arguments from `--broker-arg`.
    let brokerArguments: [String]
    let seconds: Double
    let warmup: Double
    let bodyBytes: Int
    let verbose: Bool
}

/// This executable, resolved: `CommandLine.arguments[0]` through realpath, or /proc/self/exe when it was found on PATH.
private func executablePath() throws -> String {
    let first = CommandLine.arguments[0]
    let candidate = first.contains("/") ? first : "/proc/self/exe"
    guard let resolved = realpath(candidate, nil) else { throw BenchError("cannot resolve this executable's path (\(first))") }
    defer { free(resolved) }
    return String(cString: resolved)
}

/// What `path --help` prints (to see which options this build of the broker has).
private func helpText(of path: String) throws -> String {
    let child = try ChildProcess(name: "parley-broker --help", path: path, arguments: ["--help"])
    defer { child.terminate() }
    var lines: [String] = []
    while let line = try? child.readLine(timeout: 10) { lines.append(line) }
    return lines.joined(separator: "\n")
}

/// `1`, `0.5`, `2.25`: seconds without trailing zeros.
func format(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
}
