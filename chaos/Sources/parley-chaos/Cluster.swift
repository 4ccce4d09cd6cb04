import Foundation
import ParleyChildProcess
import Parley

#if canImport(Glibc)
import Glibc
#endif

/// One agent of the run: its role, its current process and every incarnation it had.
final class AgentSlot {
    let id: String
    let role: AgentRole
    var incarnation = 0
    var process: ChaosProcess?
    /// Incarnations ended by the harness with `kill -9` (their figures are partial).
    var killed: Set<Int> = []
    /// When each incarnation was started (Unix ms).
    var startedAt: [Int: UInt64] = [:]

    init(id: String, role: AgentRole) {
        self.id = id
        self.role = role
    }

    /// Requesters and publishers exit by themselves once their work is done.
    var exitsByItself: Bool { [.requester, .crossRequester, .publisher].contains(role) }
}

/// The processes of a chaos run: the broker, the gateway and the agents, started, killed and restarted by
/// process id. Owned by the orchestrator thread.
final class Cluster {
    var settings: RunSettings
    let log: Log
    private(set) var broker: ChaosProcess?
    private(set) var brokerEndpoint = "tcp://127.0.0.1:*"
    private(set) var eventsEndpoint = "tcp://127.0.0.1:*"
    private(set) var brokerIncarnation = 0
    private(set) var gateway: ChaosProcess?
    private(set) var gatewayEndpoint = "tcp://127.0.0.1:*"
    private var gatewayIncarnation = 0
    private(set) var agents: [AgentSlot] = []
    /// Processes that ended without the harness asking, for the report.
    private(set) var unexpectedExits: [String] = []

    init(settings: RunSettings, log: Log) {
        self.settings = settings
        self.log = log
        for (role, ids) in settings.agentIDs {
            for id in ids { agents.append(AgentSlot(id: id, role: role)) }
        }
    }

    func slots(_ roles: AgentRole...) -> [AgentSlot] {
        agents.filter { roles.contains($0.role) }
    }

    // MARK: broker

    /// Starts the broker: on ephemeral ports the first time, on the same ports (and data directory) after.
    func startBroker() throws {
        brokerIncarnation += 1
        var lastLog = ""
        for attempt in 1...20 {
            let logPath = "\(settings.workDirectory)/logs/broker.\(brokerIncarnation).\(attempt).log"
            lastLog = logPath
            let process = try ChaosProcess(name: "broker", executable: settings.binary("parley-broker"), arguments: [
                "--endpoint", brokerEndpoint, "--events-endpoint", eventsEndpoint,
                "--heartbeat-ms", "\(settings.heartbeatMilliseconds)",
                "--data-dir", "\(settings.workDirectory)/data",
                "--retention-count", "\(settings.retentionCount)",
            ], logPath: logPath)
            if let line = process.waitForLine(prefix: "parley-broker ready on ", timeout: 20) {
                let words = line.split(separator: " ").map(String.init)
                guard words.count >= 6 else { throw HarnessError("unreadable ready line from the broker: \(line)") }
                brokerEndpoint = words[3]
                eventsEndpoint = words[5]
                broker = process
                return
            }
            // Most likely the port is not free again yet: try again shortly.
            process.killHard()
            log.say("broker start attempt \(attempt) failed (\(process.exitDescription)); retrying")
            usleep(250_000)
        }
        throw HarnessError("the broker did not start; see \(lastLog)")
    }

    /// `kill -9` of the broker.
    func killBroker() {
        broker?.killHard()
        broker = nil
    }

    // MARK: gateway

    func startGateway() throws {
        gatewayIncarnation += 1
        var lastLog = ""
        for attempt in 1...20 {
            let logPath = "\(settings.workDirectory)/logs/gateway.\(gatewayIncarnation).\(attempt).log"
            lastLog = logPath
            let process = try ChaosProcess(name: "gateway", executable: settings.binary("parley-gateway"), arguments: [
                "--endpoint", gatewayEndpoint, "--broker", brokerEndpoint,
                "--policy", "\(settings.workDirectory)/policy.yaml", "--audit-log", "/dev/null",
                "--heartbeat-ms", "\(settings.heartbeatMilliseconds)",
            ], logPath: logPath)
            if let line = process.waitForLine(prefix: "parley-gateway ready on ", timeout: 20) {
                let words = line.split(separator: " ").map(String.init)
                guard words.count >= 4 else { throw HarnessError("unreadable ready line from the gateway: \(line)") }
                gatewayEndpoint = words[3]
                gateway = process
                return
            }
            process.killHard()
            log.say("gateway start attempt \(attempt) failed (\(process.exitDescription)); retrying")
            usleep(250_000)
        }
        throw HarnessError("the gateway did not start; see \(lastLog)")
    }

    func killGateway() {
        gateway?.killHard()
        gateway = nil
    }

    // MARK: agents

    /// The figures file of one incarnation of an agent.
    func figuresPath(_ slot: AgentSlot, incarnation: Int) -> String {
        "\(settings.workDirectory)/figures/\(slot.id).\(incarnation).json"
    }

    /// Starts the next incarnation of an agent.
    func start(_ slot: AgentSlot) throws {
        slot.incarnation += 1
        slot.startedAt[slot.incarnation] = Recorder.nowMilliseconds()
        var arguments = [
            "agent", "--role", slot.role.rawValue, "--id", slot.id, "--incarnation", "\(slot.incarnation)",
            "--broker", brokerEndpoint, "--events", eventsEndpoint, "--gateway", gatewayEndpoint,
            "--out", figuresPath(slot, incarnation: slot.incarnation),
            "--stop-file", settings.stopFile, "--exit-by", "\(settings.exitBy)",
            "--linger-ms", "\(UInt64((settings.drainSeconds + settings.settleSeconds + 15) * 1_000))", "--seed", "\(settings.seed)",
            "--timeout-ms", "\(settings.requestTimeoutMilliseconds)",
        ]
        switch slot.role {
        case .requester, .crossRequester:
            arguments += ["--concurrency", "\(settings.requesterConcurrency)", "--interval-ms", "\(settings.thinkMilliseconds)"]
        case .publisher:
            arguments += ["--interval-ms", "\(settings.publishIntervalMilliseconds)"]
        case .subscriber:
            arguments += ["--publishers", slots(.publisher).map(\.id).joined(separator: ",")]
            if slot.id == slots(.subscriber).last?.id { arguments.append("--slow-consumer") }
        case .server, .infraServer:
            arguments += ["--slow-percent", "\(settings.slowPercent)"]
        }
        slot.process = try ChaosProcess(name: slot.id, executable: settings.binary("parley-chaos"), arguments: arguments,
                                        logPath: "\(settings.workDirectory)/logs/\(slot.id).\(slot.incarnation).log")
    }

    /// `kill -9` of an agent's current incarnation.
    func kill(_ slot: AgentSlot) {
        guard let process = slot.process else { return }
        process.killHard()
        slot.killed.insert(slot.incarnation)
        slot.process = nil
    }

    /// The current figures of an agent's incarnation (final or periodic).
    func figures(_ slot: AgentSlot, incarnation: Int? = nil) -> AgentFigures? {
        AgentFigures.read(from: figuresPath(slot, incarnation: incarnation ?? slot.incarnation))
    }

    /// Notices processes that ended on their own; restarts them while the run is still going.
    func checkForUnexpectedExits(restart: Bool) {
        if let broker, !broker.isRunning {
            unexpectedExits.append("broker (incarnation \(brokerIncarnation)) ended by itself: \(broker.exitDescription); log \(broker.logPath)")
            log.say("UNEXPECTED: the broker ended by itself (\(broker.exitDescription))")
            self.broker = nil
            if restart { try? startBroker() }
        }
        if let gateway, !gateway.isRunning {
            unexpectedExits.append("gateway ended by itself: \(gateway.exitDescription); log \(gateway.logPath)")
            log.say("UNEXPECTED: the gateway ended by itself (\(gateway.exitDescription))")
            self.gateway = nil
            if restart { try? startGateway() }
        }
        for slot in agents {
            guard let process = slot.process, !process.isRunning else { continue }
            let done = slot.exitsByItself && (figures(slot)?.final ?? false) && process.exitStatus == 0
            slot.process = nil
            if done { continue }
            unexpectedExits.append("\(slot.id) (incarnation \(slot.incarnation)) ended by itself: \(process.exitDescription); log \(process.logPath)")
            log.say("UNEXPECTED: \(slot.id) ended by itself (\(process.exitDescription))")
            if restart { try? start(slot) }
        }
    }

    /// Stops everything: agents with SIGTERM (they write their final figures), then the gateway and the
    /// broker; anything that does not go in time is killed.
    func stopAll() {
        for slot in agents {
            if let process = slot.process, process.isRunning {
                process.send(SIGCONT)
                process.send(SIGTERM)
            }
        }
        for slot in agents {
            slot.process?.terminate(grace: 3)
        }
        gateway?.terminate(grace: 3)
        broker?.terminate(grace: 8)
        ChildRegistry.killAll()
    }
}
