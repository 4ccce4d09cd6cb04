import Dispatch
import Foundation
import ParleyChildProcess
import Parley
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Set when the harness itself is asked to stop (SIGINT, SIGTERM).
let interrupted = Atomic<Bool>(false)

/// The kinds of fault the harness injects.
enum FaultKind: String, CaseIterable, Sendable {
    case killServer = "kill -9 + restart a server"
    case killRequester = "kill -9 + restart a requester"
    case killSubscriber = "kill -9 + restart a subscriber"
    case pauseAgent = "SIGSTOP + SIGCONT an agent"
    case killGateway = "kill -9 + restart the gateway"
    case restartBroker = "kill -9 + restart the broker"
    case pauseBroker = "SIGSTOP + SIGCONT the broker"

    /// How often a kind is drawn after each has had its turn.
    var weight: Double {
        switch self {
        case .killServer, .pauseAgent: 3
        case .killRequester, .killGateway: 2
        case .restartBroker: 1.5
        case .killSubscriber, .pauseBroker: 1
        }
    }
}

/// Runs one chaos run on its own long-lived thread (children are started only from it; see `ChaosProcess`).
final class Orchestrator: @unchecked Sendable {
    private(set) var settings: RunSettings
    let log: Log
    let cluster: Cluster
    private var random: SeededRandom
    private(set) var faults: [FaultKind: Int] = [:]
    /// When the latest fault started (Unix ms; 0 before the first).
    private(set) var lastFaultAt: UInt64 = 0
    /// When the broker came back (restarted or resumed) and when the gateway did (Unix ms).
    private(set) var brokerBack: [UInt64] = []
    private(set) var gatewayBack: [UInt64] = []
    /// The latest STATUS of each broker incarnation (a killed broker's counters end with it).
    private(set) var statuses: [Int: BrokerSnapshot] = [:]
    private(set) var statusFailures = 0
    private var lastHousekeeping = Date.distantPast
    /// When the harness started (Unix ms), for times in the report.
    let startedAt = Recorder.nowMilliseconds()

    init(settings: RunSettings, log: Log) {
        self.settings = settings
        self.log = log
        self.cluster = Cluster(settings: settings, log: log)
        self.random = SeededRandom(seed: settings.seed)
    }

    /// The whole run; returns the process exit code. Every child is killed before it returns.
    func run() -> Int32 {
        defer { ChildRegistry.killAll() }
        do {
            try prepare()
            let verdict = try runScenario()
            return verdict.passed ? 0 : 1
        } catch {
            log.say("chaos: ERROR: \(error)")
            if interrupted.load(ordering: .relaxed) { ChildRegistry.killAll() } else { cluster.stopAll() }
            print("chaos: FAIL (the run could not complete: \(error)); work directory \(settings.workDirectory)")
            return 2
        }
    }

    private func prepare() throws {
        let files = FileManager.default
        for folder in ["data", "logs", "figures"] {
            try files.createDirectory(atPath: "\(settings.workDirectory)/\(folder)", withIntermediateDirectories: true)
        }
        for binary in ["parley-broker", "parley-gateway", "parley-chaos"] where !files.isExecutableFile(atPath: settings.binary(binary)) {
            throw HarnessError("\(settings.binary(binary)) is not built (swift build --product \(binary))")
        }
        let policy = """
            version: 1
            layers: [domain, infrastructure]
            default: deny
            rules:
              - name: domain-uses-infrastructure
                comment: chaos run - domain requesters call infrastructure stores
                from: domain
                to: infrastructure
                kinds: [help, call]
                max_payload: 64KiB
                rate: 100000/s

            """
        try policy.write(toFile: "\(settings.workDirectory)/policy.yaml", atomically: true, encoding: .utf8)
    }

    private func runScenario() throws -> Verdict {
        try cluster.startBroker()
        log.say("broker ready on \(cluster.brokerEndpoint) events \(cluster.eventsEndpoint) (data \(settings.workDirectory)/data)")
        try cluster.startGateway()
        log.say("gateway ready on \(cluster.gatewayEndpoint)")

        let trafficMilliseconds = UInt64(settings.duration * 1_000)
        // A hard bound for every agent, in case the harness cannot tell them anything any more.
        settings.exitBy = Recorder.nowMilliseconds() + 30_000 + trafficMilliseconds
            + UInt64((settings.drainSeconds + settings.settleSeconds + 30) * 1_000)
        cluster.settings = settings
        // Servers first, so that the first requests find them registered.
        let servers = cluster.slots(.server, .infraServer)
        for slot in servers { try cluster.start(slot) }
        try waitForAgentsConnected(servers, timeout: 20)
        let others = cluster.agents.filter { slot in !servers.contains { $0 === slot } }
        for slot in others { try cluster.start(slot) }
        log.say("started \(cluster.agents.count) agents: " + cluster.agents.map(\.id).joined(separator: " "))
        try waitForAgentsConnected(cluster.agents, timeout: 20)
        // The traffic's clock starts once everyone is connected; agents read the stop time from a file.
        settings.stopAt = Recorder.nowMilliseconds() + trafficMilliseconds
        cluster.settings = settings
        try "\(settings.stopAt)".write(toFile: settings.stopFile, atomically: true, encoding: .utf8)
        log.say("all agents connected; traffic for \(Int(settings.duration)) s, faults from now on")

        try injectFaults(until: settings.stopAt)
        try idle(untilMilliseconds: settings.stopAt)
        log.say("traffic stopped; draining (at most \(Int(settings.drainSeconds)) s for requests in flight)")
        try drain()
        let lastConfirmed = confirmedTails()
        try settle(lastConfirmed)
        try awaitBrokerQuiet()
        log.say("stopping everything")
        cluster.stopAll()
        let verdict = Verdict(orchestrator: self)
        verdict.print()
        if verdict.passed && !settings.keep {
            try? FileManager.default.removeItem(atPath: settings.workDirectory)
        } else {
            print("chaos: logs, figures and the event journal are in \(settings.workDirectory)")
        }
        return verdict
    }

    private func waitForAgentsConnected(_ slots: [AgentSlot], timeout: Double) throws {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let waiting = slots.filter { !(cluster.figures($0)?.connected ?? false) }
            if waiting.isEmpty { return }
            if Date() >= deadline {
                throw HarnessError("agents not connected after \(Int(timeout)) s: \(waiting.map(\.id).joined(separator: " "))")
            }
            try pause(0.05)
        }
    }

    // MARK: faults

    /// Injects faults from the seeded schedule until shortly before `stopAt`. Faults overlap: a fault's
    /// recovery (restart, SIGCONT) is scheduled and the next fault may start before it, on another target.
    /// Every kind is injected once first (in a seeded order), then kinds are drawn by weight.
    private func injectFaults(until stopAt: UInt64) throws {
        let faultEnd = Double(stopAt) / 1_000 - 1.0
        var mandatory = FaultKind.allCases.shuffled(using: &random)
        let quick = settings.quick
        let overlapLimit = quick ? 2 : 3
        while true {
            let isMandatory = !mandatory.isEmpty
            let kind = isMandatory ? mandatory[0] : weightedKind()
            let gap = Double.random(in: quick ? 0.2...0.6 : 0.8...2.5, using: &random)
            let downtime = downtime(kind)
            try pause(gap)
            // Wait for a free slot: at most `overlapLimit` faults at once, and the target kind must be free.
            while recoveries.count >= overlapLimit || !available(kind) {
                if Date().timeIntervalSince1970 > faultEnd { break }
                try pause(0.05)
            }
            if Date().timeIntervalSince1970 + downtime + 0.5 > faultEnd {
                for kind in mandatory { log.say("no time left for fault '\(kind.rawValue)'") }
                break
            }
            if try inject(kind, downtime: downtime), isMandatory { mandatory.removeFirst() }
        }
        // Let every recovery happen.
        while !recoveries.isEmpty { try pause(0.05) }
    }

    /// A recovery due at a time: restart what a fault killed, resume what it paused.
    private struct Recovery {
        let due: Date
        let target: String
        let action: () throws -> Void
    }

    /// Recoveries not done yet, and the targets they hold ("broker", "gateway" or an agent id).
    private var recoveries: [Recovery] = []

    private func busy(_ target: String) -> Bool { recoveries.contains { $0.target == target } }

    private func available(_ kind: FaultKind) -> Bool {
        switch kind {
        case .restartBroker, .pauseBroker: !busy("broker")
        case .killGateway: !busy("gateway")
        default: true
        }
    }

    private func schedule(after seconds: Double, target: String, _ action: @escaping () throws -> Void) {
        recoveries.append(Recovery(due: Date().addingTimeInterval(seconds), target: target, action: action))
    }

    private func runDueRecoveries() throws {
        let now = Date()
        while let index = recoveries.firstIndex(where: { $0.due <= now }) {
            let recovery = recoveries.remove(at: index)
            try recovery.action()
        }
    }

    private func weightedKind() -> FaultKind {
        let total = FaultKind.allCases.reduce(0) { $0 + $1.weight }
        var draw = Double.random(in: 0..<total, using: &random)
        for kind in FaultKind.allCases {
            draw -= kind.weight
            if draw < 0 { return kind }
        }
        return .killServer
    }

    private func downtime(_ kind: FaultKind) -> Double {
        let quick = settings.quick
        return switch kind {
        case .killServer, .killRequester, .killSubscriber: Double.random(in: quick ? 0.2...0.6 : 0.3...2.0, using: &random)
        case .pauseAgent: Double.random(in: quick ? 0.8...1.5 : 1.0...4.0, using: &random)
        case .killGateway: Double.random(in: quick ? 0.2...0.6 : 0.2...1.5, using: &random)
        case .restartBroker: Double.random(in: quick ? 0.1...0.5 : 0.1...1.0, using: &random)
        case .pauseBroker: Double.random(in: quick ? 0.5...1.2 : 0.5...2.5, using: &random)
        }
    }

    /// A running agent among `candidates` that no other fault holds.
    private func pick(_ candidates: [AgentSlot]) -> AgentSlot? {
        let free = candidates.filter { ($0.process?.isRunning ?? false) && !busy($0.id) }
        guard !free.isEmpty else { return nil }
        return free[Int.random(in: 0..<free.count, using: &random)]
    }

    /// Injects one fault and schedules its recovery; false when no target was free.
    private func inject(_ kind: FaultKind, downtime: Double) throws -> Bool {
        let seconds = String(format: "%.2f s", downtime)
        switch kind {
        case .killServer, .killRequester, .killSubscriber:
            let candidates = switch kind {
            case .killServer: cluster.slots(.server, .infraServer)
            case .killRequester: cluster.slots(.requester, .crossRequester)
            default: cluster.slots(.subscriber)
            }
            guard let slot = pick(candidates) else { return false }
            let incarnation = slot.incarnation
            cluster.kill(slot)
            record(kind, "\(slot.id)#\(incarnation), restart in \(seconds)")
            schedule(after: downtime, target: slot.id) { [self] in
                try cluster.start(slot)
                log.say("  \(slot.id)#\(slot.incarnation) started")
            }
        case .pauseAgent:
            guard let slot = pick(cluster.agents), let process = slot.process else { return false }
            process.send(SIGSTOP)
            record(kind, "\(slot.id)#\(slot.incarnation) for \(seconds)")
            schedule(after: downtime, target: slot.id) { [self] in
                process.send(SIGCONT)
                log.say("  \(slot.id)#\(slot.incarnation) resumed")
            }
        case .killGateway:
            cluster.killGateway()
            record(kind, "down for \(seconds)")
            schedule(after: downtime, target: "gateway") { [self] in
                try cluster.startGateway()
                gatewayBack.append(Recorder.nowMilliseconds())
                log.say("  gateway back on \(cluster.gatewayEndpoint)")
            }
        case .restartBroker:
            pollStatus(force: true)
            let incarnation = cluster.brokerIncarnation
            cluster.killBroker()
            record(kind, "incarnation \(incarnation) killed, down for \(seconds)")
            schedule(after: downtime, target: "broker") { [self] in
                try cluster.startBroker()
                brokerBack.append(Recorder.nowMilliseconds())
                log.say("  broker back on \(cluster.brokerEndpoint) (incarnation \(cluster.brokerIncarnation))")
            }
        case .pauseBroker:
            guard let broker = cluster.broker else { return false }
            broker.send(SIGSTOP)
            record(kind, "for \(seconds)")
            schedule(after: downtime, target: "broker") { [self] in
                broker.send(SIGCONT)
                brokerBack.append(Recorder.nowMilliseconds())
                log.say("  broker resumed")
            }
        }
        return true
    }

    private func record(_ kind: FaultKind, _ detail: String) {
        faults[kind, default: 0] += 1
        lastFaultAt = Recorder.nowMilliseconds()
        log.say("FAULT \(kind.rawValue): \(detail) (unix ms \(lastFaultAt))")
    }

    // MARK: waiting

    /// Sleeps `seconds` while keeping house (STATUS polls, unexpected exits, interrupts).
    private func pause(_ seconds: Double) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            try housekeeping()
            usleep(UInt32(max(0, min(50_000, deadline.timeIntervalSinceNow * 1_000_000))))
        }
    }

    private func idle(untilMilliseconds deadline: UInt64) throws {
        let seconds = Double(Int64(deadline) - Int64(Recorder.nowMilliseconds())) / 1_000
        if seconds > 0 { try pause(seconds) }
    }

    private func housekeeping() throws {
        if interrupted.load(ordering: .relaxed) { throw HarnessError("interrupted") }
        try runDueRecoveries()
        guard Date().timeIntervalSince(lastHousekeeping) >= 1 else { return }
        lastHousekeeping = Date()
        cluster.checkForUnexpectedExits(restart: Recorder.nowMilliseconds() < settings.stopAt)
        pollStatus(force: false)
    }

    /// Asks the broker for its STATUS and keeps it as its incarnation's latest.
    func pollStatus(force: Bool) {
        guard let broker = cluster.broker, !broker.stopped else { return }
        let endpoint = cluster.brokerEndpoint
        let incarnation = cluster.brokerIncarnation
        let box = Mutex<BrokerSnapshot?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let snapshot = try? await BrokerStatus.fetch(endpoint: endpoint, timeout: .milliseconds(force ? 1_500 : 500))
            box.withLock { $0 = snapshot }
            done.signal()
        }
        done.wait()
        if let snapshot = box.withLock({ $0 }) {
            statuses[incarnation] = snapshot
        } else {
            statusFailures += 1
        }
    }

    /// Waits for the requesters and publishers to finish what they have in flight and exit by themselves.
    private func drain() throws {
        let finishers = cluster.agents.filter(\.exitsByItself)
        let deadline = Date().addingTimeInterval(settings.drainSeconds)
        while Date() < deadline {
            if finishers.allSatisfy({ !($0.process?.isRunning ?? false) }) { break }
            try pause(0.05)
        }
        cluster.checkForUnexpectedExits(restart: false)
        for slot in finishers {
            guard let process = slot.process, process.isRunning else { continue }
            log.say("\(slot.id) still busy after the drain period; asking it for its figures")
            process.terminate(grace: 3)
        }
        log.say("requesters and publishers done")
    }

    /// The last confirmed sequence of every topic, from the publishers' final figures.
    private func confirmedTails() -> [String: UInt64] {
        var tails: [String: UInt64] = [:]
        for slot in cluster.slots(.publisher) {
            for incarnation in 1...max(slot.incarnation, 1) {
                for (topic, confirmed) in cluster.figures(slot, incarnation: incarnation)?.publishing?.topics ?? [:] {
                    tails[topic] = max(tails[topic] ?? 0, confirmed.lastSequence)
                }
            }
        }
        return tails
    }

    /// Takes the broker's last STATUS once it holds no pending request, or once the requests of killed
    /// requesters (which nobody waits for) must have reached their deadlines.
    private func awaitBrokerQuiet() throws {
        let lastFault = lastFaultAt
        let latest = max(Recorder.nowMilliseconds(), lastFault + UInt64(settings.requestTimeoutMilliseconds) + 3_000)
        while true {
            pollStatus(force: true)
            if statuses[cluster.brokerIncarnation]?.pending == 0 || Recorder.nowMilliseconds() >= latest { return }
            try pause(0.25)
        }
    }

    /// Waits until every subscriber has had (or been told it lost) every confirmed event.
    private func settle(_ tails: [String: UInt64]) throws {
        let deadline = Date().addingTimeInterval(settings.settleSeconds)
        let started = Date()
        while Date() < deadline {
            let behind = cluster.slots(.subscriber).filter { slot in
                let topics = cluster.figures(slot)?.receiving?.topics ?? [:]
                return tails.contains { topic, last in (topics[topic]?.through ?? 0) < last }
            }
            if behind.isEmpty {
                log.say(String(format: "subscribers caught up in %.1f s", Date().timeIntervalSince(started)))
                return
            }
            try pause(0.1)
        }
        log.say("subscribers still behind after \(Int(settings.settleSeconds)) s")
    }
}
