import ArgumentParser
import Dispatch
import Foundation
import Parley
import ParleyStatistics
import Synchronization
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// What an agent process of the chaos run does.
enum AgentRole: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Offers `cap:work` in layer domain.
    case server
    /// Offers `cap:store` in layer infrastructure (reached only through the gateway).
    case infraServer = "infra-server"
    /// Asks `cap:work` in its own layer.
    case requester
    /// Calls infrastructure `store` through the gateway.
    case crossRequester = "cross-requester"
    /// Publishes `tick` and `tock` events.
    case publisher
    /// Follows the publishers' events from sequence 1.
    case subscriber
}

/// `parley-chaos agent`: one agent process (hidden; the harness starts these).
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "One agent of a chaos run (started by `parley-chaos run`).",
        shouldDisplay: false
    )

    @Option var role: AgentRole
    @Option var id: String
    @Option var incarnation = 1
    @Option var broker: String
    @Option var events: String
    @Option var gateway: String
    @Option(help: "Where the figures go (JSON, rewritten periodically and once more at the end).")
    var out: String
    @Option(help: "A file the harness writes the stop time into (Unix ms): then requesters and publishers stop starting new work.")
    var stopFile: String
    @Option(help: "Unix time in ms at which the process writes its figures and exits, whatever it is doing.")
    var exitBy: UInt64
    @Option(name: .customLong("linger-ms"), help: "How long after the stop time the process exits at the latest.")
    var lingerMilliseconds: UInt64 = 30_000
    @Option var seed: UInt64 = 1
    @Option(name: .customLong("timeout-ms")) var timeoutMilliseconds = 4_000
    @Option var concurrency = 3
    @Option(name: .customLong("interval-ms"), help: "Publishers: time between events; requesters: the most think time.")
    var intervalMilliseconds = 20
    @Option(help: "Servers: percent of requests held long (hundreds of ms).")
    var slowPercent = 3
    @Option(name: .customLong("hold-ms"), help: "Servers: hold every request this long instead (for reproducing a scenario by hand).")
    var holdMilliseconds = 0
    @Option(help: "Subscribers: the publishers to follow, comma-separated.")
    var publishers = ""
    @Flag(help: "Subscribers: consume slowly (40 ms an event) 3 s out of every 6, with small queues, so the SDK stops reading live events and catches up by replay.")
    var slowConsumer = false

    func run() async throws {
        let figures = AgentFigures(role: role.rawValue, id: id, incarnation: incarnation)
        let recorder = Recorder(figures, path: out)
        recorder.startHousekeeping(exitBy: exitBy, stopFile: stopFile, linger: lingerMilliseconds)
        let agent = try await connect(recorder)
        recorder.update { $0.connected = true }
        recorder.flush()
        switch role {
        case .server, .infraServer:
            // `serve` was set before connecting; serve until told to stop.
            try await Task.sleep(for: .seconds(86_400))
        case .requester, .crossRequester:
            await request(agent, recorder)
            recorder.finish()
        case .publisher:
            await publish(agent, recorder)
            recorder.finish()
        case .subscriber:
            await follow(agent, recorder)
            try await Task.sleep(for: .seconds(86_400))
        }
    }

    private var configuration: AgentConfiguration {
        let layer = role == .infraServer ? "infrastructure" : "domain"
        let capabilities = switch role {
        case .server: ["work"]
        case .infraServer: ["store"]
        default: [String]()
        }
        var configuration = AgentConfiguration(id: id, layer: layer, capabilities: capabilities, brokerEndpoint: broker,
                                               eventsEndpoint: events)
        configuration.gatewayEndpoint = gateway
        configuration.connectTimeout = .seconds(3)
        if slowConsumer {
            configuration.eventsHighWaterMark = 20
            configuration.subscriptionBacklogLimit = 50
        }
        return configuration
    }

    /// Connects, retrying while the id is still held by a killed predecessor or the broker is restarting.
    private func connect(_ recorder: Recorder) async throws -> Agent {
        while true {
            recorder.update { $0.connectAttempts += 1 }
            let agent = try Agent(configuration)
            if role == .server || role == .infraServer { serve(agent, recorder) }
            do {
                try await agent.connect()
                return agent
            } catch {
                note("\(id): connect failed: \(error); retrying")
                await agent.close()
                if Recorder.nowMilliseconds() >= exitBy { throw error }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    // MARK: servers

    private func serve(_ agent: Agent, _ recorder: Recorder) {
        let random = Mutex(SeededRandom(seed: SeededRandom.derive(seed, id, incarnation)))
        let slowPercent = slowPercent
        let fixedHold = holdMilliseconds
        recorder.update {
            $0.serving = $0.serving ?? ServingFigures()
        }
        agent.serve { request in
            recorder.update { figures in
                if request.attempt > 1 { figures.serving!.redelivered += 1 }
                figures.serving!.maxAttempt = max(figures.serving!.maxAttempt, request.attempt)
            }
            let payload = try request.decode(WorkPayload.self)
            let hold = fixedHold > 0 ? fixedHold : random.withLock { random -> Int in
                Int.random(in: 0..<100, using: &random) < slowPercent
                    ? Int.random(in: 200...1_200, using: &random) : Int.random(in: 1...5, using: &random)
            }
            do {
                try await Task.sleep(for: .milliseconds(payload.hold > 0 ? payload.hold : hold))
            } catch {
                recorder.update { $0.serving!.revoked += 1 }
                throw error
            }
            recorder.update { $0.serving!.handled += 1 }
            return .answer(bytes: Array("\(payload.r)#\(payload.n)".utf8))
        }
    }

    // MARK: requesters

    private func request(_ agent: Agent, _ recorder: Recorder) async {
        recorder.update { $0.requests = RequestFigures() }
        let key = "\(id).\(incarnation)"
        let counter = RequestCounter()
        let cross = role == .crossRequester
        let timeout = Duration.milliseconds(timeoutMilliseconds)
        let thinkMost = max(intervalMilliseconds, 1)
        let baseSeed = SeededRandom.derive(seed, id, incarnation)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<max(concurrency, 1) {
                group.addTask {
                    var random = SeededRandom(seed: baseSeed &+ UInt64(worker))
                    while !recorder.stopped {
                        let n = counter.value.wrappingAdd(1, ordering: .relaxed).newValue
                        let payload = WorkPayload(r: key, n: n)
                        recorder.update { $0.requests!.issued += 1 }
                        let started = ContinuousClock.now
                        let outcome: Outcome
                        if cross {
                            do {
                                outcome = try await agent.executeOutcome(
                                    LayerCallback(toLayer: "infrastructure", need: "store", kind: .call, payload: payload,
                                                  timeout: timeout, retries: 3))
                            } catch {
                                // Only a configuration problem throws; count it as an outcome of its own.
                                note("\(key): cross-layer call refused by the SDK: \(error)")
                                recorder.update { figures in
                                    figures.requests!.resolved += 1
                                    figures.requests!.outcomes["THROWN", default: 0] += 1
                                }
                                continue
                            }
                        } else {
                            let body = (try? JSONEncoder().encode(payload)).map { Array($0) } ?? []
                            outcome = await agent.send(.help, to: .capability("work"), body: body, timeout: timeout)
                        }
                        let took = (ContinuousClock.now - started).components
                        let milliseconds = Int(took.seconds * 1_000 + took.attoseconds / 1_000_000_000_000_000)
                        let expected = "\(key)#\(n)"
                        recorder.update { figures in
                            figures.requests!.resolved += 1
                            figures.requests!.outcomes["\(outcome.status)", default: 0] += 1
                            if Self.isLocal(outcome) { figures.requests!.localOutcomes["\(outcome.status)", default: 0] += 1 }
                            if outcome.status == .ok && outcome.text != expected { figures.requests!.mismatched += 1 }
                            if outcome.status != .ok && figures.requests!.notable.count < 2_000 {
                                figures.requests!.notable.append([Recorder.nowMilliseconds(), UInt64(outcome.status.rawValue)])
                            }
                            figures.requests!.slowestMilliseconds = max(figures.requests!.slowestMilliseconds, milliseconds)
                        }
                        if outcome.status == .ok && outcome.text != expected {
                            note("\(key): MISMATCH expected \(expected), got \(outcome.text)")
                        } else if outcome.status != .ok {
                            note("\(key) #\(n): \(outcome.status) after \(milliseconds) ms,"
                                  + " attempts \(outcome.attempts): \(outcome.text)")
                        }
                        try? await Task.sleep(for: .milliseconds(Int.random(in: 0...thinkMost, using: &random)))
                    }
                }
            }
        }
    }

    /// Whether the SDK made the outcome itself (nothing came from the broker or gateway in time).
    static func isLocal(_ outcome: Outcome) -> Bool {
        guard outcome.attempts == 0 else { return false }
        let text = outcome.text
        return text.hasPrefix("no answer from the") || text.hasPrefix("no connection to the")
            || text.hasPrefix("the agent is not connected") || text.hasPrefix("the agent was closed")
    }

    // MARK: publishers

    private func publish(_ agent: Agent, _ recorder: Recorder) async {
        recorder.update { $0.publishing = PublishingFigures() }
        var counters: [String: UInt64] = [:]
        var random = SeededRandom(seed: SeededRandom.derive(seed, id, incarnation))
        var turn = 0
        while !recorder.stopped {
            turn += 1
            let event = turn % 3 == 0 ? "tock" : "tick"
            let n = counters[event, default: 0] + 1
            counters[event] = n
            let data = (try? JSONEncoder().encode(TickPayload(p: id, n: n))).map { Array($0) } ?? []
            recorder.update { $0.publishing!.attempted += 1 }
            do {
                let receipt = try await agent.publish(event, data: data)
                recorder.update { figures in
                    let topic = receipt.topic.description
                    var confirmed = figures.publishing!.topics[topic] ?? ConfirmedTopic()
                    if receipt.sequence <= confirmed.lastSequence {
                        confirmed.regressions += 1
                        note("\(id): CONFIRM REGRESSION on \(topic): \(receipt.sequence) after \(confirmed.lastSequence)")
                    }
                    confirmed.lastSequence = max(confirmed.lastSequence, receipt.sequence)
                    confirmed.confirmed += 1
                    EventRun.append(receipt.sequence, n, to: &confirmed.runs)
                    figures.publishing!.topics[topic] = confirmed
                    figures.publishing!.confirmed += 1
                }
            } catch {
                note("\(id): publish \(event) #\(n) not confirmed: \(error)")
                recorder.update { $0.publishing!.unconfirmed += 1 }
            }
            let interval = intervalMilliseconds
            try? await Task.sleep(for: .milliseconds(Int.random(in: interval / 2...interval * 3 / 2 + 1, using: &random)))
        }
    }

    // MARK: subscribers

    private func follow(_ agent: Agent, _ recorder: Recorder) async {
        recorder.update { $0.receiving = ReceivingFigures() }
        let me = id
        let slow = slowConsumer
        for publisher in publishers.split(separator: ",").map(String.init) {
            let subscription: EventSubscription
            do {
                subscription = try agent.subscribe(to: publisher, from: .sequence(1))
            } catch {
                note("\(id): cannot subscribe to \(publisher): \(error)")
                continue
            }
            Task {
                for await notice in subscription {
                    if slow, Recorder.nowMilliseconds() / 1_000 % 6 < 3 { try? await Task.sleep(for: .milliseconds(40)) }
                    switch notice {
                    case .event(let event):
                        let payload = try? JSONDecoder().decode(TickPayload.self, from: Data(event.data))
                        recorder.update { figures in
                            let topic = event.topic.description
                            var received = figures.receiving!.topics[topic] ?? ReceivedTopic()
                            if let payload, payload.p == publisher {
                                if event.sequence <= received.through {
                                    received.outOfOrder += 1
                                    note("\(me): OUT OF ORDER on \(topic): \(event.sequence) after \(received.through)")
                                } else {
                                    EventRun.append(event.sequence, payload.n, to: &received.runs)
                                    received.delivered += 1
                                    if event.replayed { received.replayed += 1 }
                                    received.through = event.sequence
                                }
                            } else {
                                received.foreign += 1
                            }
                            figures.receiving!.topics[topic] = received
                        }
                    case .gap(let topic, let from, let to):
                        note("\(me): GAP \(topic) \(from)-\(to)")
                        recorder.update { figures in
                            var received = figures.receiving!.topics[topic.description] ?? ReceivedTopic()
                            received.gaps.append([from, to])
                            received.through = max(received.through, to)
                            figures.receiving!.topics[topic.description] = received
                        }
                    }
                }
            }
        }
    }
}

/// Writes a line to standard output at once (unbuffered), so that it survives a `kill -9`, stamped with
/// the Unix time in ms to line it up with the harness's fault log.
func note(_ text: String) {
    FileHandle.standardOutput.write(Data("\(Recorder.nowMilliseconds()) \(text)\n".utf8))
}

/// The numbers requests get, shared by a requester's workers.
final class RequestCounter: Sendable {
    let value = Atomic<Int>(0)
}

/// Keeps the agent's SIGTERM source alive (set once, at start-up, before any other thread runs).
nonisolated(unsafe) var agentSignalSource: DispatchSourceSignal?

/// The process's figures behind a mutex, written to its file every 200 ms, at `exitBy`, and on SIGTERM.
final class Recorder: Sendable {
    private let figures: Mutex<AgentFigures>
    private let path: String
    /// True once the final figures are written; held while writing, so a periodic write never lands after them.
    private let finished = Mutex<Bool>(false)

    init(_ figures: AgentFigures, path: String) {
        self.figures = Mutex(figures)
        self.path = path
    }

    func update(_ body: (inout AgentFigures) -> Void) {
        figures.withLock { body(&$0) }
    }

    /// Writes the current figures (not final).
    func flush() {
        let snapshot = figures.withLock { $0 }
        finished.withLock { finished in
            if !finished { snapshot.write(to: path) }
        }
    }

    /// Writes the final figures and exits the process.
    func finish() -> Never {
        let snapshot = figures.withLock { figures -> AgentFigures in
            figures.final = true
            return figures
        }
        finished.withLock { finished in
            if !finished { snapshot.write(to: path) }
            finished = true
        }
        fflush(nil)
        exit(0)
    }

    /// The stop time (Unix ms) once the harness has written it; `UInt64.max` until then.
    let stopAt = Atomic<UInt64>(.max)

    /// Whether requesters and publishers should stop starting new work.
    var stopped: Bool { Self.nowMilliseconds() >= stopAt.load(ordering: .relaxed) }

    private func readStopTime(_ file: String) {
        guard stopAt.load(ordering: .relaxed) == .max, let text = try? String(contentsOfFile: file, encoding: .utf8),
              let time = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return }
        stopAt.store(time, ordering: .relaxed)
    }

    /// Periodic writes; the final write and exit at `exitBy` or `linger` after the stop time, on SIGTERM,
    /// or when the harness is gone.
    func startHousekeeping(exitBy: UInt64, stopFile: String, linger: UInt64) {
        readStopTime(stopFile)
        signal(SIGTERM, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        source.setEventHandler { [self] in finish() }
        source.resume()
        agentSignalSource = source
        let parent = getppid()
        let thread = Thread { [self] in
            while true {
                usleep(200_000)
                readStopTime(stopFile)
                let now = Self.nowMilliseconds()
                let stop = stopAt.load(ordering: .relaxed)
                if now >= exitBy || (stop != .max && now >= stop &+ linger) || getppid() != parent { finish() }
                flush()
            }
        }
        thread.start()
    }

    static func nowMilliseconds() -> UInt64 { WallClock.milliseconds() }
}
