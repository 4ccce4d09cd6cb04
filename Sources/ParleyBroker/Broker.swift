import Logging
import ParleyBrokerCore
import ParleyStatistics
import ParleyWire
import Synchronization
import ZeroMQ

/// The broker process's engine: one reactor thread that owns the ROUTER socket and the `BrokerCore`.
///
/// `run()` blocks its calling thread (give it a dedicated one, never a Swift concurrency thread) until
/// `stop()` is called from any thread. The reactor only does I/O: payload frames are moved from the
/// inbound to the outbound socket without being decoded or copied.
public final class Broker: Sendable {
    private let options: BrokerOptions
    private let logger: Logger
    private let wake: WakeSignal
    private let stopping = Atomic<Bool>(false)

    /// A broker that will serve with `options`, logging to `logger`.
    public init(options: BrokerOptions, logger: Logger) throws {
        self.options = options
        self.logger = logger
        self.wake = try WakeSignal()
    }

    /// Asks the reactor to shut down: pending requests end with UNAVAILABLE, agents get BYE. Thread-safe.
    public func stop() {
        stopping.store(true, ordering: .releasing)
        wake.signal()
    }

    /// Reads the journal back into `core` record by record (sequences continue, retained events come back,
    /// event ids stay de-duplicated), then compacts it to what is still retained.
    private func openJournal(_ directory: String, into core: inout BrokerCore<Message>) throws -> EventJournal {
        let journal = try EventJournal(directory: directory, sync: options.syncJournal,
                                         compactionSlack: options.journalSlackBytes)
        var reader = journal.records()
        var records = 0
        let now = MonotonicClock.milliseconds()
        let wallNow = WallClock.milliseconds()
        while let record = try reader.next() {
            records += 1
            switch record {
            case .event(let header, let body):
                core.restore(header, body: body, age: wallNow &- min(header.timestamp, wallNow), now: now)
            case .latest(let topic, let latest):
                core.restoreLatest(topic, latest)
            case .topicFloor(let agent, let floor):
                core.restoreTopicFloor(floor, of: agent)
            case .mark(let mark):
                core.restore(mark)
            }
        }
        core.evictRestoredEvents(now: now)
        do {
            try journal.rewrite { fresh in
                for (agent, floor) in core.topicFloors { fresh.appendTopicFloor(floor, of: agent) }
                try core.forEachTopic { topic, latest, events in
                    if events.isEmpty { fresh.appendLatest(topic, latest) }
                    for event in events {
                        fresh.append(event.header, body: event.body)
                        try fresh.writeIfLarge()
                    }
                }
            }
        } catch {
            // No room to compact (a full disk): go on with the old file, cut after its last complete record.
            try journal.truncate(to: reader.validEnd)
            logger.warning("event journal not compacted", metadata: ["event": "journal_not_compacted", "error": "\(error)"])
        }
        logger.info("event journal loaded", metadata: ["event": "journal_loaded", "directory": "\(directory)", "records": .stringConvertible(records),
                                                       "sync": .stringConvertible(options.syncJournal)])
        return journal
    }

    /// Loads the journal (when there is a data directory), then binds and serves until `stop()`: nothing is
    /// listening while the journal loads, so no peer is served from a half-loaded state. `onReady` receives the
    /// bound agent and events endpoints (useful with port `*`) once everything is loaded, bound and the first
    /// sample is stored. `onSample` runs on the reactor thread every `options.sampleIntervalMilliseconds`
    /// and once more after the last outcome went out: keep it short (store the sample and return).
    public func run(onReady: (_ endpoint: String, _ eventsEndpoint: String) -> Void = { _, _ in },
                    onSample: (BrokerSample) -> Void = { _ in }) throws {
        var configuration = options.core
        configuration.journaling = options.dataDirectory != nil
        var core = BrokerCore<Message>(configuration: configuration, now: MonotonicClock.milliseconds(),
                                       wallClock: WallClock.milliseconds(), keyRing: options.security?.keyRing,
                                       seed: .random(in: 1...UInt64.max))
        let journal = try options.dataDirectory.map { try openJournal($0, into: &core) }
        // Retained events and cached outcomes keep payloads for minutes: each in an allocation of its own size,
        // not pinning the 8 KiB read buffer it arrived in.
        let context = try Context(zeroCopyReceive: false)
        let authenticator = try options.security?.startAuthenticator(context)
        defer { authenticator?.stop() }
        let router = try Socket(context, type: .router)
        defer { router.close() }
        try options.security?.apply(to: router)
        try router.setRouterMandatory(true)
        try router.setSendHighWaterMark(options.highWaterMark)
        try router.setReceiveHighWaterMark(options.highWaterMark)
        if ZeroMQ.hasQueueBudgets {  // else: the start-up warning
            try router.setQueueByteBudget(options.queueBytes)
            try router.setSocketQueueByteBudget(options.totalQueueBytes)
        }
        try router.setMaxMessageSize(options.transportFrameLimit)
        try router.setLinger(milliseconds: 1_000)
        // Peers that vanish without closing (a cut cable, a frozen host) are dropped by TCP keepalive, with the
        // queues libzmq held for them. The kernel does it, so the broker keeps no timer per connection.
        try router.setTCPKeepalive()
        try router.bind(options.endpoint)
        let events = try Socket(context, type: .xpub)
        defer { events.close() }
        try events.setSendHighWaterMark(options.eventsHighWaterMark)
        if ZeroMQ.hasQueueBudgets {
            try events.setQueueByteBudget(options.eventsQueueBytes)
            try events.setMaxSubscriptionsPerConnection(options.maxSubscriptionsPerConnection)
        }
        // Subscriptions are short (1 + topic prefix); a huge one would bloat the subscription trie.
        try events.setMaxMessageSize(4_096)
        try events.setXPubManual(true)  // the broker applies subscriptions itself: it checks who may read what
        try options.security?.apply(to: events)
        try events.setLinger(milliseconds: 1_000)
        try events.setTCPKeepalive()
        try events.bind(options.eventsEndpoint)
        let endpoint = (try? router.lastEndpoint) ?? options.endpoint
        let eventsEndpoint = (try? events.lastEndpoint) ?? options.eventsEndpoint
        var poller = Poller()
        poller.add(router)
        let eventsIndex = poller.add(events)
        let wakeIndex = poller.add(fileDescriptor: wake.fileDescriptor)
        try withoutActuallyEscaping(onSample) { onSample in
            var reactor = BrokerReactor(loop: ReactorLoop(router: router, events: events, journal: journal, core: core,
                                                          authenticated: options.security != nil, logger: logger),
                                        poller: poller, wake: wake, eventsIndex: eventsIndex, wakeIndex: wakeIndex,
                                        sampler: BrokerSampler(interval: max(options.sampleIntervalMilliseconds, 10), logger: logger),
                                        logger: logger, grace: options.shutdownGraceMilliseconds, onSample: onSample)
            reactor.loop.checkJournalRoom()
            reactor.sample(now: MonotonicClock.milliseconds())  // /health: ready
            logger.info("broker listening", metadata: ["event": "bind", "endpoint": "\(endpoint)", "events": "\(eventsEndpoint)"])
            onReady(endpoint, eventsEndpoint)
            try ReactorDriver(maximumWait: 1_000, drainingWait: 50, grace: options.shutdownGraceMilliseconds)
                .run(&reactor, stopRequested: { stopping.load(ordering: .acquiring) })
            let unfinished = reactor.loop.core.pendingCount
            reactor.loop.core.shutdown()
            try reactor.loop.flush()
            reactor.sampler.take(reactor.loop, now: MonotonicClock.milliseconds(), draining: true, logChanges: false, onSample: onSample)
            logger.notice("broker stopped", metadata: ["event": "stopped", "endpoint": "\(endpoint)", "ended_unavailable": .stringConvertible(unfinished)])
        }
    }
}

public struct BrokerSample: Sendable {
    /// Agents, pending work and the core's running totals (as STATUS reports them).
    public var snapshot: BrokerSnapshot
    /// How long ago each agent was last heard from, in milliseconds, by id.
    public var silences: [String: UInt64]
    /// Messages dropped because a peer's queue was full (ZMQ_SNDHWM), since start.
    public var droppedAtHighWaterMark: UInt64
    /// True while the data directory has no room for the journal: publishes are refused with UNAVAILABLE.
    public var journalFull: Bool
    /// True once shutdown began (new requests are refused).
    public var draining: Bool
    /// When it was taken (monotonic milliseconds, `MonotonicClock`).
    public var takenAt: UInt64
}

/// Takes the periodic samples, and logs agents joining, leaving, going away and coming back by comparing the
/// agent lists of consecutive samples (an agent that comes and goes between two samples is not seen).
/// Takes the broker's samples on schedule and logs agents joining, leaving, going away and coming back.
struct BrokerSampler {
    let interval: UInt64
    let logger: Logger
    private(set) var due: UInt64 = 0
    private var agents: [String: BrokerSnapshot.Agent] = [:]

    init(interval: UInt64, logger: Logger) {
        self.interval = interval
        self.logger = logger
    }

    mutating func take(_ loop: ReactorLoop, now: UInt64, draining: Bool, logChanges: Bool = true,
                       onSample: (BrokerSample) -> Void) {
        due = now + interval
        let snapshot = loop.core.snapshot()
        if logChanges { logAgentChanges(snapshot.agents) }
        onSample(BrokerSample(snapshot: snapshot, silences: loop.core.silences(now: now), droppedAtHighWaterMark: loop.droppedAtHighWaterMark, journalFull: loop.journalFull,
                              draining: draining, takenAt: now))
    }

    private mutating func logAgentChanges(_ current: [BrokerSnapshot.Agent]) {
        var remaining = agents
        for agent in current {
            let metadata: Logger.Metadata = ["agent": "\(agent.id)", "layer": "\(agent.layer)",
                                             "capabilities": .array(agent.capabilities.map { .string($0) })]
            switch remaining.removeValue(forKey: agent.id)?.state {
            case nil:
                logger.info("agent joined", metadata: metadata.merging(["event": "agent_joined", "state": "\(agent.state)"]) { $1 })
            case let state? where state != agent.state && agent.state == "away":
                logger.notice("agent away (silent; its requests wait for it or go to another agent)",
                              metadata: metadata.merging(["event": "agent_away"]) { $1 })
            case let state? where state != agent.state:
                logger.info("agent back", metadata: metadata.merging(["event": "agent_back"]) { $1 })
            default:
                break
            }
        }
        for agent in remaining.values.sorted(by: { $0.id < $1.id }) {
            logger.info("agent left", metadata: ["event": "agent_left", "agent": "\(agent.id)", "layer": "\(agent.layer)"])
        }
        agents = Dictionary(uniqueKeysWithValues: current.map { ($0.id, $0) })
    }
}
