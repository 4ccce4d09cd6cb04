import ArgumentParser
import Foundation
import ParleyChildProcess

/// `parley-bench`: delivery rate and latency of every Parley path — request/reply through the broker, through
/// the gateway and the broker, events, and both through the Swift SDK — each measured in the same run as a
/// logic-free raw libzmq baseline carrying the same traffic (a ROUTER/ROUTER forwarder, an XSUB/XPUB proxy),
/// so that the machine's noise mostly cancels out of the ratios.
///
/// The thing measured (broker, gateway, forwarder, proxy) and every load generator run as separate processes:
/// the generators are this executable started again with a hidden subcommand.
@main
struct ParleyBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parley-bench",
        abstract: "Benchmarks every Parley path against raw libzmq baselines in the same run.",
        discussion: "`parley-bench` alone runs `parley-bench run` with its defaults; see `parley-bench run --help`.",
        subcommands: [
            RunCommand.self, RequesterCommand.self, ResponderCommand.self, ForwarderCommand.self, ProxyCommand.self,
            PublisherCommand.self, SubscriberCommand.self, SDKRequesterCommand.self, SDKResponderCommand.self,
            SDKPublisherCommand.self, SDKSubscriberCommand.self,
        ],
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
            Scenarios (bench/README.md): forwarder, help-rr, cross-layer-rr and sdk-rr with 100 and with 1 \
            request in flight; forwarder and help-rr with 4 KB bodies, with 4 requesters and 2 responders, and at \
            a fixed offered rate (half of help-rr's W=100 rate; latency from the intended send time); proxy, \
            events and sdk-events from 1 publisher to 1 and to 10 subscribers. Every scenario prints its ratio \
            to its raw libzmq baseline (forwarder or proxy) of the same round, and the goals table compares \
            the scenarios the goals name. Exits 1 when a scenario could not run, failed requests or lost events.
            """
    )

    @Flag(help: "A smoke test, not a measurement: every scenario for 0.5 s after 0.2 s of warm-up, 20,000 events.")
    var quick = false

    @Option(help: "Measured seconds per request/reply scenario.")
    var seconds = 5.0

    @Option(help: "Warm-up seconds before each request/reply measurement.")
    var warmup = 0.5

    @Option(help: "Events published per events scenario.")
    var events = 500_000

    @Option(help: "Run only these scenarios: a kind (forwarder, help-rr, cross-layer-rr, sdk-rr, proxy, events, sdk-events) or a full name (help-rr-w1-100b); repeatable. Baselines are not added by themselves.")
    var only: [String] = []

    @Option(help: "Repeat the whole plan this many times; the tables then show medians.")
    var rounds = 1

    @Option(help: "Body size of the main scenarios, in bytes.")
    var bodyBytes = 100

    @Option(help: "Body size of the large-body request/reply scenarios, in bytes.")
    var largeBodyBytes = 4_096

    @Option(help: "Offered rate of the fixed-rate scenarios (default: half of help-rr's W=100 rate in the same round).")
    var fixedRate: Double?

    @Option(help: "Publishes the events publishers keep unconfirmed.")
    var publishWindow = 1_000

    @Option(help: "The proxy baseline's loop: libzmq (zmq_proxy) or swift (the same loop over the ZeroMQ module).")
    var proxyEngine = "libzmq"

    @Option(help: "Before each scenario, wait up to this many seconds for the machine to be idle (under 0.3 of a core busy for 0.5 s); 0: do not wait.")
    var settle = 0.0

    @Flag(help: "Print one JSON object per scenario on stdout (the lines for people go to stderr).")
    var json = false

    @Option(help: "The parley-broker executable (default: the one next to this executable).")
    var broker: String?

    @Option(help: "The parley-gateway executable (default: the one next to this executable).")
    var gateway: String?

    @Option(name: .customLong("broker-arg"), parsing: .unconditionalSingleValue,
            help: "An extra argument for parley-broker (repeatable), e.g. --broker-arg=--dedupe-capacity=0.")
    var brokerArguments: [String] = []

    @Flag(help: "Print child process ids (for attaching a profiler).")
    var verbose = false

    func validate() throws {
        guard seconds > 0 else { throw ValidationError("--seconds must be positive") }
        guard warmup >= 0 else { throw ValidationError("--warmup cannot be negative") }
        guard events >= 1, publishWindow >= 1 else { throw ValidationError("--events and --publish-window must be at least 1") }
        guard bodyBytes >= 8, largeBodyBytes >= 8 else { throw ValidationError("bodies must be at least 8 bytes (events carry their send time)") }
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        if let fixedRate, fixedRate <= 0 { throw ValidationError("--fixed-rate must be positive") }
        guard ["libzmq", "swift"].contains(proxyEngine) else { throw ValidationError("--proxy-engine is libzmq or swift") }
    }

    func run() throws {
        try blockingWait { try await self.measure() }
    }

    /// Every scenario of the plan, `rounds` times, then the report.
    private func measure() async throws {
        ChildRegistry.endChildrenOnSignals()
        signal(SIGPIPE, SIG_IGN)
        let ownPath = try executablePath()
        let directory = (ownPath as NSString).deletingLastPathComponent
        let brokerPath = broker ?? directory + "/parley-broker"
        let gatewayPath = gateway ?? directory + "/parley-gateway"

        var plan = Plan.scenarios(bodyBytes: bodyBytes, largeBodyBytes: largeBodyBytes)
        if !only.isEmpty {
            plan = plan.filter { spec in only.contains(spec.kind.rawValue) || only.contains(spec.name) }
            guard !plan.isEmpty else {
                throw ValidationError("--only \(only.joined(separator: ", ")) matches no scenario; names: "
                                      + Plan.scenarios(bodyBytes: bodyBytes, largeBodyBytes: largeBodyBytes).map(\.name).joined(separator: ", "))
            }
        }
        for (path, product, needed) in [(brokerPath, "parley-broker", plan.contains { !$0.kind.isBaseline }),
                                        (gatewayPath, "parley-gateway", plan.contains { $0.kind == .crossLayerRR })] where needed {
            guard access(path, X_OK) == 0 else {
                throw BenchError("no executable \(product) at \(path); build it first: swift build -c release --product \(product)")
            }
        }
        // Every endpoint on an ephemeral loopback port, so runs never collide with each other or a broker in use;
        // options are passed only when this broker build has them.
        let brokerHelp = access(brokerPath, X_OK) == 0 ? try await helpText(of: brokerPath) : ""
        var brokerBaseArguments = ["--endpoint", "tcp://127.0.0.1:*"]
        if brokerHelp.contains("--events-endpoint") { brokerBaseArguments += ["--events-endpoint", "tcp://127.0.0.1:*"] }
        if brokerHelp.contains("--log-level") { brokerBaseArguments += ["--log-level", "error"] }

        var template = Array("/tmp/parley-bench.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw BenchError("cannot create a temporary directory: errno \(errno)") }
        let workDirectory = String(cString: made)
        defer { removeTree(workDirectory) }

        let settings = Settings(benchPath: ownPath, brokerPath: brokerPath, gatewayPath: gatewayPath,
                                brokerBaseArguments: brokerBaseArguments, brokerArguments: brokerArguments,
                                seconds: quick ? 0.5 : seconds, warmup: quick ? min(warmup, 0.2) : warmup,
                                eventCount: quick ? min(events, 20_000) : events, publishWindow: publishWindow, proxyEngine: proxyEngine,
                                verbose: verbose, workDirectory: workDirectory)
        let report = Report(json: json)
        report.human("parley-bench: request/reply \(format(settings.seconds)) s per scenario after \(format(settings.warmup)) s warm-up; "
                     + "\(grouped(Double(settings.eventCount))) events per events scenario; tcp loopback, "
                     + "\(ProcessInfo.processInfo.activeProcessorCount) cores" + (quick ? " (--quick: a smoke test, not a measurement)" : ""))
        report.human("broker: " + ([brokerPath] + brokerBaseArguments + brokerArguments).joined(separator: " ")
                     + " (events scenarios add --events-hwm 1000000 --events-queue-bytes 1GiB)")

        let runner = ScenarioRunner(settings: settings)
        let started = monotonicNanoseconds()
        var results: [Measurement] = []
        for round in 1...rounds {
            if rounds > 1 { report.human("round \(round) of \(rounds)") }
            var inRound: [Measurement] = []
            for spec in plan {
                let reference = ScenarioSpec(kind: .helpRR, bodyBytes: bodyBytes, window: 100).name
                let rate = fixedRate
                    ?? inRound.last(where: { $0.name == reference && $0.error == nil }).map { $0.rate / 2 }
                    ?? 20_000
                if settle > 0, await !waitForIdleMachine(upTo: settle) {
                    report.human("  (the machine did not go idle within \(format(settle)) s; measuring anyway)")
                }
                var measurement = await runner.run(spec, fixedRate: rate)
                measurement.round = round
                if spec.kind.isBaseline, measurement.error == nil {
                    measurement.baseline = BaselineFigures(name: measurement.name, rate: measurement.rate, p99: measurement.latency.p99,
                                                            others: measurement.cpu.others)
                } else if let baseline = inRound.last(where: { $0.name == spec.baseline.name && $0.error == nil }) {
                    measurement.baseline = BaselineFigures(name: baseline.name, rate: baseline.rate, p99: baseline.latency.p99,
                                                            others: baseline.cpu.others)
                }
                report.scenario(measurement, earlier: inRound)
                inRound.append(measurement)
            }
            results += inRound
        }
        report.table(results, rounds: rounds)
        report.goals(results, rounds: rounds)
        report.human("")
        report.human("total \(format((Double(monotonicNanoseconds() - started) / 1e8).rounded() / 10)) s")

        let failed = results.filter { !$0.succeeded }
        if !failed.isEmpty {
            for result in failed { emitError("parley-bench: \(result.name) (round \(result.round)): \(result.problem ?? "failed")") }
            throw ExitCode.failure
        }
    }
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
private func helpText(of path: String) async throws -> String {
    let child = try await ChildProcess(name: "parley-broker --help", executable: path, arguments: ["--help"])
    await child.stop(signal: 0)
    return child.outputLines.joined(separator: "\n")
}

/// Waits until the whole machine used less than 0.3 of a core over half a second (other sessions' builds and
/// tests finished), at most `seconds`; false when it never did.
private func waitForIdleMachine(upTo seconds: Double) async -> Bool {
    let deadline = monotonicNanoseconds() + nanoseconds(seconds: seconds)
    while monotonicNanoseconds() < deadline {
        guard let before = machineBusySeconds() else { return true }
        try? await Task.sleep(for: .milliseconds(500))
        guard let after = machineBusySeconds() else { return true }
        if (after.tasks + after.interrupts - before.tasks - before.interrupts) / 0.5 < 0.3 { return true }
    }
    return false
}

/// `1`, `0.5`, `2.25`: seconds without trailing zeros.
func format(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
}
