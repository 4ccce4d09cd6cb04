import ParleyBroker
import ParleyOperations
import ParleyStatistics
import ParleyWire
import Synchronization

/// The broker's console: the page at `/` and the read-only API under `/api/` (deploy/OPERATIONS.md lists it).
///
/// Everything comes from the samples the reactor already stores for the metrics (agents, pools, rates) and from the
/// ``ConsoleEventFeed``'s own subscription (the event tail): the reactor does no work for the console. Thread-safe;
/// `refresh` and `route` run on the metrics server's thread.
final class BrokerConsole: Sendable {
    /// The live event tail's clients.
    let events = EventStreamHub()
    private let latest: LatestSample<BrokerSample>
    private let rates = Mutex(RateHistory())
    private let sampleIntervalMilliseconds: UInt64
    private let eventTailProblem: String?

    /// A console over the samples in `latest`; `eventTailProblem` says why there is no event tail (nil: there is one).
    init(latest: LatestSample<BrokerSample>, sampleIntervalMilliseconds: UInt64, eventTailProblem: String?) {
        self.latest = latest
        self.sampleIntervalMilliseconds = sampleIntervalMilliseconds
        self.eventTailProblem = eventTailProblem
    }

    /// Adds the latest sample's outcome totals to the rate history. Metrics server thread, before each request and
    /// once a second.
    func refresh() {
        guard let (sample, _) = latest.load() else { return }
        rates.withLock { $0.record(takenAt: sample.takenAt, totals: sample.snapshot.outcomes) }
    }

    /// The console's answer for `target`, or nil outside `/` and `/api/`.
    func route(_ target: HTTPRequestTarget) -> HTTPResponse? {
        api.route(target)
    }

    /// The routes (made per request: a few closures, for a console polling once a second).
    private var api: ConsoleAPI {
        let latest = latest
        /// The latest sample, or the 503 to answer before the first one.
        func withSample(_ body: @escaping @Sendable (BrokerSample, UInt64) -> HTTPResponse) -> @Sendable (HTTPRequestTarget) -> HTTPResponse {
            { _ in latest.load().map(body) ?? ConsoleAPI.error(503, "starting: the broker has not reported yet") }
        }
        return ConsoleAPI(page: BrokerConsolePage.response, endpoints: [
            "agents": .init(answer: withSample { sample, age in ConsoleAPI.json(AgentsView(sample, age: age)) }),
            "pools": .init(answer: withSample { sample, age in ConsoleAPI.json(PoolsView(sample, age: age)) }),
            "rates": .init(parameters: ["seconds"]) { target in
                let given = target.parameter("seconds")
                guard let seconds = given.map({ Int($0) }) ?? 300, (10...300).contains(seconds) else {
                    return ConsoleAPI.error(400, "seconds must be a whole number from 10 to 300, not '\(given ?? "")'")
                }
                let now = MonotonicClock.milliseconds()
                let points = self.rates.withLock { $0.points(within: seconds, now: now) }
                return ConsoleAPI.json(RatesView(points: points, now: now, seconds: seconds, intervalMilliseconds: self.sampleIntervalMilliseconds,
                                                 totals: latest.load()?.sample.snapshot.outcomes ?? [:]))
            },
            "events": .init(parameters: ["agent"]) { target in
                if let problem = self.eventTailProblem { return ConsoleAPI.error(503, problem) }
                let agent = target.parameter("agent").flatMap { $0.isEmpty ? nil : $0 }
                if let agent, let problem = Names.agentProblem(agent) { return ConsoleAPI.error(400, "agent: \(problem)") }
                return .eventStream(self.events, agent: agent)
            },
        ])
    }
}

/// `/api/agents`: every registered agent.
private struct AgentsView: Encodable {
    struct Agent: Encodable {
        var id, layer, state: String
        var capabilities: [String]
        var inFlight: Int
        var lastSeenMs: UInt64
    }

    var sampleAgeMs: UInt64
    var agents: [Agent]

    init(_ sample: BrokerSample, age: UInt64) {
        sampleAgeMs = age
        agents = sample.snapshot.agents.map { agent in
            Agent(id: agent.id, layer: agent.layer, state: agent.state, capabilities: agent.capabilities, inFlight: agent.inFlight,
                  lastSeenMs: (sample.silences[agent.id] ?? 0) + age)
        }
    }
}

/// `/api/pools`: the agents offering each capability, and their load.
private struct PoolsView: Encodable {
    struct Pool: Encodable {
        var capability: String
        var agents, alive, inFlight: Int
    }

    var sampleAgeMs: UInt64
    var pending, waiting: Int
    var pools: [Pool]

    init(_ sample: BrokerSample, age: UInt64) {
        sampleAgeMs = age
        pending = sample.snapshot.pending
        waiting = sample.snapshot.waiting
        var pools: [String: Pool] = [:]
        for agent in sample.snapshot.agents {
            for capability in agent.capabilities {
                var pool = pools[capability] ?? Pool(capability: capability, agents: 0, alive: 0, inFlight: 0)
                pool.agents += 1
                pool.alive += agent.state == "alive" ? 1 : 0
                pool.inFlight += agent.inFlight
                pools[capability] = pool
            }
        }
        self.pools = pools.values.sorted { $0.capability < $1.capability }
    }
}

/// `/api/rates`: requests ended per second by outcome, one point per sample interval.
private struct RatesView: Encodable {
    struct Point: Encodable {
        var secondsAgo: Double
        var perSecond: [String: Double]
    }

    var seconds: Int
    var intervalMs: UInt64
    var outcomes: [String]
    var totals: [String: UInt64]
    var points: [Point]

    init(points: [RateHistory.Point], now: UInt64, seconds: Int, intervalMilliseconds: UInt64, totals: [String: UInt64]) {
        self.seconds = seconds
        intervalMs = intervalMilliseconds
        outcomes = Status.allCases.map(\.description)
        self.totals = totals
        self.points = points.map { Point(secondsAgo: Double(now &- $0.endedAt) / 1_000, perSecond: $0.perSecond) }
    }
}
