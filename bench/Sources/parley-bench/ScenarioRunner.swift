import Foundation
import ParleyChildProcess

/// What every scenario of one run shares.
struct Settings: Sendable {
    let benchPath: String
    let brokerPath: String
    let gatewayPath: String
    /// Endpoints and logging, chosen for this broker build.
    let brokerBaseArguments: [String]
    /// Extra arguments from `--broker-arg`.
    let brokerArguments: [String]
    let seconds: Double
    let warmup: Double
    /// Events per events scenario.
    let eventCount: Int
    /// Publishes kept unconfirmed by the events publishers.
    let publishWindow: Int
    /// The proxy baseline's loop: `libzmq` (zmq_proxy) or `swift`.
    let proxyEngine: String
    let verbose: Bool
    /// A private temporary directory for go files, sample files and the gateway's policy.
    let workDirectory: String
}

/// Runs one scenario: starts the thing measured (forwarder, proxy, broker, gateway and broker), then the load
/// generators, each a process of its own; measures; stops every child, whatever happened.
struct ScenarioRunner {
    let settings: Settings
    /// Numbers the scenario directories.
    private static let sequence = SharedSequence()

    /// Never throws: a scenario that cannot run comes back with `error` set. Every child it started is stopped
    /// before it returns, whatever happened.
    func run(_ spec: ScenarioSpec, fixedRate: Double) async -> Measurement {
        let directory = settings.workDirectory + "/\(ScenarioRunner.sequence.next())-\(spec.name)"
        let participants = Participants()
        var measurement: Measurement
        do {
            guard mkdir(directory, 0o700) == 0 else { throw BenchError("cannot create \(directory): errno \(errno)") }
            measurement = spec.kind.isRequestReply
                ? try await runRequestReply(spec, fixedRate: fixedRate, directory: directory, participants: participants)
                : try await runEvents(spec, directory: directory, participants: participants)
        } catch {
            measurement = Measurement(spec: spec)
            measurement.error = "\(error)"
        }
        await participants.stopAll()
        removeTree(directory)
        return measurement
    }

    // MARK: Request/reply

    private func runRequestReply(_ spec: ScenarioSpec, fixedRate: Double, directory: String, participants: Participants) async throws -> Measurement {
        func track(_ child: ChildProcess, _ label: String, system: Bool) {
            participants.list.append(Participant(child: child, label: label, system: system))
        }

        // The thing measured.
        let requesterEndpoint: String
        let responderEndpoint: String
        switch spec.kind {
        case .forwarder:
            let forwarder = try await ChildProcess(name: "forwarder", executable: settings.benchPath,
                                             arguments: ["forwarder", "--workers", String(spec.responders)])
            track(forwarder, "forwarder", system: true)
            let line = try await forwarder.waitForLine(timeout: .seconds(10), what: "its ready line") { $0.hasPrefix("forwarder ready ") }
            let fields = keyValues(line)
            guard let frontend = fields["frontend"], let backend = fields["backend"] else {
                throw BenchError("cannot read the forwarder's endpoints from: \(line)")
            }
            (requesterEndpoint, responderEndpoint) = (frontend, backend)
        case .helpRR, .sdkRR:
            let broker = try await startBroker(extra: [])
            track(broker.child, "parley-broker", system: true)
            (requesterEndpoint, responderEndpoint) = (broker.endpoint, broker.endpoint)
        case .crossLayerRR:
            let broker = try await startBroker(extra: [])
            track(broker.child, "parley-broker", system: true)
            let gateway = try await startGateway(broker: broker.endpoint, directory: directory)
            track(gateway.child, "parley-gateway", system: true)
            (requesterEndpoint, responderEndpoint) = (gateway.endpoint, broker.endpoint)
        case .proxy, .events, .sdkEvents:
            throw BenchError("\(spec.kind.rawValue) is not a request/reply scenario")
        }

        // Responders, then requesters; each says when it is ready.
        let crossLayer = spec.kind == .crossLayerRR
        for index in 1...spec.responders {
            let responder: ChildProcess
            if spec.kind == .sdkRR {
                responder = try await ChildProcess(name: "sdk-responder-\(index)", executable: settings.benchPath, arguments: [
                    "sdk-responder", "--endpoint", responderEndpoint, "--agent-id", "bench-echo-\(index)",
                ])
            } else {
                responder = try await ChildProcess(name: "responder-\(index)", executable: settings.benchPath, arguments: [
                    "responder", "--endpoint", responderEndpoint, "--mode", spec.kind == .forwarder ? "raw" : "broker",
                    "--agent-id", "bench-echo-\(index)", "--layer", crossLayer ? "infrastructure" : "bench", "--capability", "echo",
                ])
            }
            track(responder, spec.responders == 1 ? "responder" : "responder-\(index)", system: false)
            _ = try await responder.waitForLine(timeout: .seconds(15), what: "\"responder ready\"") { $0 == "responder ready" }
        }
        let goFile = directory + "/go"
        var requesters: [(child: ChildProcess, samples: String)] = []
        for index in 1...spec.requesters {
            let samples = directory + "/requester-\(index).samples"
            var arguments: [String]
            if spec.kind == .sdkRR {
                arguments = ["sdk-requester", "--endpoint", requesterEndpoint, "--agent-id", "bench-req-\(index)",
                             "--window", String(spec.window)]
            } else {
                arguments = ["requester", "--endpoint", requesterEndpoint, "--mode", spec.kind == .forwarder ? "raw" : "broker",
                             "--agent-id", "bench-req-\(index)", "--layer", crossLayer ? "domain" : "bench",
                             "--target", crossLayer ? "layer:infrastructure/echo" : "cap:echo", "--kind", crossLayer ? "call" : "help"]
                arguments += spec.fixedRate ? ["--rate", String(fixedRate / Double(spec.requesters))] : ["--window", String(spec.window)]
            }
            arguments += ["--body-bytes", String(spec.bodyBytes), "--go-file", goFile, "--samples", samples]
            let requester = try await ChildProcess(name: "requester-\(index)", executable: settings.benchPath, arguments: arguments)
            track(requester, spec.requesters == 1 ? "requester" : "requester-\(index)", system: false)
            requesters.append((requester, samples))
        }
        for requester in requesters {
            _ = try await requester.child.waitForLine(timeout: .seconds(30), what: "\"ready\"") { $0 == "ready" }
        }
        if settings.verbose {
            emitError("  pids: " + participants.list.map { "\($0.label) \($0.child.processIdentifier)" }.joined(separator: ", "))
        }

        // Go: warm-up, then the measurement window, the same for every requester.
        let measureStart = monotonicNanoseconds() + nanoseconds(seconds: settings.warmup)
        let measureEnd = measureStart + nanoseconds(seconds: settings.seconds)
        try GoSignal.post(path: goFile, measureStart: measureStart, measureEnd: measureEnd)
        await sleep(untilMonotonic: measureStart)
        let watch = CPUWatch(participants.list)
        await sleep(untilMonotonic: measureEnd)
        var measurement = Measurement(spec: spec)
        measurement.cpu = watch.stop()

        var samples: [UInt64] = []
        for requester in requesters {
            let line = try await requester.child.waitForLine(timeout: .seconds(spec.fixedRate ? 60 : 30), what: "its figures") { $0.hasPrefix("{") }
            if settings.verbose { emitError("  \(requester.child.name): \(line)") }
            let figures: RequesterFigures
            do {
                figures = try JSONDecoder().decode(RequesterFigures.self, from: Data(line.utf8))
            } catch {
                throw BenchError("cannot read \(requester.child.name)'s figures (\(error)): \(line)")
            }
            measurement.messages += figures.messages
            measurement.failures += figures.failures + figures.unmatched + figures.incomplete
            try readSamples(from: requester.samples, into: &samples)
        }
        measurement.seconds = settings.seconds
        measurement.rate = Double(measurement.messages) / settings.seconds
        measurement.latency = LatencySummary(sorting: &samples)
        if spec.fixedRate { measurement.offeredRate = fixedRate }
        return measurement
    }

    // MARK: Events

    private func runEvents(_ spec: ScenarioSpec, directory: String, participants: Participants) async throws -> Measurement {
        func track(_ child: ChildProcess, _ label: String, system: Bool) {
            participants.list.append(Participant(child: child, label: label, system: system))
        }

        let publishEndpoint: String
        let subscribeEndpoint: String
        switch spec.kind {
        case .proxy:
            let proxy = try await ChildProcess(name: "proxy", executable: settings.benchPath, arguments: ["proxy", "--hwm", "1000000", "--engine", settings.proxyEngine])
            track(proxy, "proxy", system: true)
            let line = try await proxy.waitForLine(timeout: .seconds(10), what: "its ready line") { $0.hasPrefix("proxy ready ") }
            let fields = keyValues(line)
            guard let frontend = fields["frontend"], let backend = fields["backend"] else {
                throw BenchError("cannot read the proxy's endpoints from: \(line)")
            }
            (publishEndpoint, subscribeEndpoint) = (frontend, backend)
        case .events, .sdkEvents:
            // Subscribers must lose nothing: the broker's queue per subscriber is raised from 100,000 events and 16 MiB
            // (as the proxy's: 1,000,000 messages, no byte budget).
            let broker = try await startBroker(extra: ["--events-hwm", "1000000", "--events-queue-bytes", "1GiB"])
            track(broker.child, "parley-broker", system: true)
            guard let events = broker.eventsEndpoint else { throw BenchError("the broker printed no events endpoint") }
            (publishEndpoint, subscribeEndpoint) = (broker.endpoint, events)
        case .forwarder, .helpRR, .crossLayerRR, .sdkRR:
            throw BenchError("\(spec.kind.rawValue) is not an events scenario")
        }

        let count = settings.eventCount
        var subscribers: [(child: ChildProcess, samples: String)] = []
        for index in 1...spec.subscribers {
            let samples = directory + "/subscriber-\(index).samples"
            let arguments = spec.kind == .sdkEvents
                ? ["sdk-subscriber", "--endpoint", publishEndpoint, "--events-endpoint", subscribeEndpoint,
                   "--agent-id", "bench-sub-\(index)", "--count", String(count), "--samples", samples]
                : ["subscriber", "--endpoint", subscribeEndpoint, "--count", String(count), "--samples", samples]
            let subscriber = try await ChildProcess(name: "subscriber-\(index)", executable: settings.benchPath, arguments: arguments)
            track(subscriber, spec.subscribers == 1 ? "subscriber" : "subscriber-\(index)", system: false)
            subscribers.append((subscriber, samples))
        }
        for subscriber in subscribers {
            _ = try await subscriber.child.waitForLine(timeout: .seconds(15), what: "\"ready\"") { $0 == "ready" }
        }
        let goFile = directory + "/go"
        let publisherArguments: [String]
        switch spec.kind {
        case .sdkEvents:
            publisherArguments = ["sdk-publisher", "--endpoint", publishEndpoint, "--window", String(settings.publishWindow)]
        case .events:
            publisherArguments = ["publisher", "--endpoint", publishEndpoint, "--mode", "broker", "--window", String(settings.publishWindow)]
        default:
            publisherArguments = ["publisher", "--endpoint", publishEndpoint, "--mode", "proxy"]
        }
        let publisher = try await ChildProcess(name: "publisher", executable: settings.benchPath, arguments: publisherArguments + [
            "--count", String(count), "--body-bytes", String(spec.bodyBytes), "--go-file", goFile,
        ])
        track(publisher, "publisher", system: false)
        _ = try await publisher.waitForLine(timeout: .seconds(15), what: "\"ready\"") { $0 == "ready" }
        // Every subscriber has received a warm-up event: its subscription is in force, nothing counted can be
        // lost to the slow-joiner effect.
        for subscriber in subscribers {
            _ = try await subscriber.child.waitForLine(timeout: .seconds(20), what: "\"warm\" (a warm-up event)") { $0 == "warm" }
        }
        if settings.verbose {
            emitError("  pids: " + participants.list.map { "\($0.label) \($0.child.processIdentifier)" }.joined(separator: ", "))
        }

        let watch = CPUWatch(participants.list)
        let now = monotonicNanoseconds()
        try GoSignal.post(path: goFile, measureStart: now, measureEnd: now)
        let publisherLine = try await publisher.waitForLine(timeout: .seconds(300), what: "its figures") { $0.hasPrefix("{") }
        if settings.verbose { emitError("  publisher: \(publisherLine)") }
        let published: PublisherFigures
        do {
            published = try JSONDecoder().decode(PublisherFigures.self, from: Data(publisherLine.utf8))
        } catch {
            throw BenchError("cannot read the publisher's figures (\(error)): \(publisherLine)")
        }
        var measurement = Measurement(spec: spec)
        var samples: [UInt64] = []
        var lastDelivery: UInt64 = 0
        var loss: UInt64 = 0
        for subscriber in subscribers {
            let line = try await subscriber.child.waitForLine(timeout: .seconds(60), what: "its figures") { $0.hasPrefix("{") }
            if settings.verbose { emitError("  \(subscriber.child.name): \(line)") }
            let figures: SubscriberFigures
            do {
                figures = try JSONDecoder().decode(SubscriberFigures.self, from: Data(line.utf8))
            } catch {
                throw BenchError("cannot read \(subscriber.child.name)'s figures (\(error)): \(line)")
            }
            measurement.messages += figures.received
            measurement.duplicates += figures.duplicates
            loss += figures.lost
            lastDelivery = max(lastDelivery, figures.last_ns)
            try readSamples(from: subscriber.samples, into: &samples)
        }
        measurement.cpu = watch.stop()
        measurement.loss = loss
        measurement.failures = published.errors
        let span = lastDelivery > published.first_send_ns ? lastDelivery - published.first_send_ns : 0
        measurement.seconds = Double(span) / 1e9
        measurement.rate = span > 0 ? Double(measurement.messages) / measurement.seconds : 0
        let publishSpan = Double(published.done_ns &- published.first_send_ns) / 1e9
        measurement.publishRate = publishSpan > 0 ? Double(published.published) / publishSpan : nil
        measurement.latency = LatencySummary(sorting: &samples)
        return measurement
    }

    // MARK: Processes

    /// Starts `parley-broker` on ephemeral ports and reads its endpoints from its ready line.
    private func startBroker(extra: [String]) async throws -> (child: ChildProcess, endpoint: String, eventsEndpoint: String?) {
        let child = try await ChildProcess(name: "parley-broker", executable: settings.brokerPath,
                                     arguments: settings.brokerBaseArguments + extra + settings.brokerArguments)
        let prefix = "parley-broker ready on "
        let line = try await child.waitForLine(timeout: .seconds(10), what: "\"\(prefix)…\"") { $0.hasPrefix(prefix) }
        // "parley-broker ready on <endpoint> events <events endpoint>"
        let words = line.dropFirst(prefix.count).split(separator: " ").map(String.init)
        guard let endpoint = words.first else { throw BenchError("cannot read the broker's endpoint from: \(line)") }
        let events = words.firstIndex(of: "events").flatMap { $0 + 1 < words.count ? words[$0 + 1] : nil }
        return (child, endpoint, events)
    }

    /// Starts `parley-gateway` in front of `broker` with a policy allowing domain → infrastructure (help, call;
    /// no rate limit), its audit trail to /dev/null.
    private func startGateway(broker: String, directory: String) async throws -> (child: ChildProcess, endpoint: String) {
        let policy = directory + "/policy.yaml"
        try writeText("""
            version: 1
            layers: [domain, infrastructure]
            default: deny
            rules:
              - name: bench-domain-uses-infrastructure
                comment: parley-bench cross-layer-rr, no rate limit
                from: domain
                to: infrastructure
                kinds: [help, call]
                max_payload: 1MiB

            """, to: policy)
        let child = try await ChildProcess(name: "parley-gateway", executable: settings.gatewayPath, arguments: [
            "--endpoint", "tcp://127.0.0.1:*", "--broker", broker, "--policy", policy,
            "--audit-log", "/dev/null", "--log-level", "error",
        ])
        let prefix = "parley-gateway ready on "
        let line = try await child.waitForLine(timeout: .seconds(10), what: "\"\(prefix)…\"") { $0.hasPrefix(prefix) }
        return (child, String(line.dropFirst(prefix.count).prefix { $0 != " " }))
    }
}

/// The processes of one scenario, in the order started.
final class Participants {
    var list: [Participant] = []

    /// Stops the load generators first, then what they talked to, so that the system measured never sees its
    /// peers vanish in mid-flight (and never fails sending to them).
    func stopAll() async {
        await terminateAll(list.filter { !$0.system }.map(\.child))
        await terminateAll(list.filter(\.system).map(\.child))
    }
}

/// Sends SIGTERM to all `children` at once, then waits for each (SIGKILL after 3 s).
private func terminateAll(_ children: [ChildProcess]) async {
    for child in children { child.signal(SIGTERM) }
    for child in children { await child.stop(signal: 0, grace: .seconds(3)) }
}

/// A child process and how it appears in the CPU figures.
struct Participant {
    let child: ChildProcess
    let label: String
    let system: Bool
}

/// CPU time of a scenario's processes (all threads, and the main thread) and of the machine, from /proc,
/// between `init` and `stop()`.
struct CPUWatch {
    let participants: [Participant]
    let started: UInt64
    let processStart: [Double]
    let threadStart: [[Int32: (name: String, seconds: Double)]]
    let machineStart: (tasks: Double, interrupts: Double)

    init(_ participants: [Participant]) {
        self.participants = participants
        started = monotonicNanoseconds()
        processStart = participants.map { $0.child.cpuSeconds ?? 0 }
        threadStart = participants.map { $0.child.threadCPUSeconds }
        machineStart = machineBusySeconds() ?? (0, 0)
    }

    func stop() -> CPUFigures {
        let elapsed = max(Double(monotonicNanoseconds() - started) / 1e9, 1e-3)
        var figures = CPUFigures()
        for (index, participant) in participants.enumerated() {
            let total = ((participant.child.cpuSeconds ?? processStart[index]) - processStart[index]) / elapsed
            var busiest = (name: "?", cores: 0.0)
            for (tid, now) in participant.child.threadCPUSeconds {
                let cores = (now.seconds - (threadStart[index][tid]?.seconds ?? 0)) / elapsed
                if cores > busiest.cores { busiest = (now.name, cores) }
            }
            figures.processes.append(ProcessCPU(label: participant.label, system: participant.system, cores: total,
                                                busiestThread: busiest.cores, busiestThreadName: busiest.name))
        }
        let machineEnd = machineBusySeconds() ?? machineStart
        let tasks = (machineEnd.tasks - machineStart.tasks) / elapsed
        figures.softirq = (machineEnd.interrupts - machineStart.interrupts) / elapsed
        figures.others = max(0, tasks - figures.processes.reduce(0) { $0 + $1.cores })
        return figures
    }
}

/// The requester's JSON line (the raw and the SDK requester print the same).
struct RequesterFigures: Decodable {
    let messages: Int
    let seconds: Double
    let cpu_seconds: Double
    let failures: Int
    let unmatched: Int
    let incomplete: Int
}

/// The publisher's JSON line.
struct PublisherFigures: Decodable {
    let published: Int
    let confirmed: Int
    let errors: Int
    let first_send_ns: UInt64
    let done_ns: UInt64
}

/// A subscriber's JSON line.
struct SubscriberFigures: Decodable {
    let received: Int
    let lost: UInt64
    let duplicates: Int
    let first_ns: UInt64
    let last_ns: UInt64
}

/// `key=value` words of a line.
private func keyValues(_ line: String) -> [String: String] {
    Dictionary(line.split(separator: " ").compactMap { field -> (String, String)? in
        let parts = field.split(separator: "=", maxSplits: 1)
        return parts.count == 2 ? (String(parts[0]), String(parts[1])) : nil
    }, uniquingKeysWith: { first, _ in first })
}

/// Sleeps until CLOCK_MONOTONIC reaches `deadline` (nanoseconds).
func sleep(untilMonotonic deadline: UInt64) async {
    let now = monotonicNanoseconds()
    if now < deadline { try? await Task.sleep(nanoseconds: deadline - now) }
}

func writeText(_ text: String, to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) else {
        throw BenchError("cannot write \(path)")
    }
}

func removeTree(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// A process-wide counter (the harness drives its scenarios from one thread; the lock is for Swift 6).
final class SharedSequence: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
