import Logging
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

    /// Reads the journal back into `core` (sequences continue, retained events come back, event ids stay
    /// de-duplicated), then compacts it to what is still retained.
    private func openJournal(_ directory: String, into core: inout BrokerCore<Message>) throws -> EventJournal {
        let journal = try EventJournal(directory: directory, sync: options.syncJournal)
        let records = try journal.readAll()
        let now = MonotonicClock.milliseconds()
        let wallNow = WallClock.milliseconds()
        for record in records {
            switch record {
            case .event(let header, let body):
                core.restore(header, body: body.isEmpty ? nil : Message(body), age: wallNow &- min(header.timestamp, wallNow), now: now)
            case .latest(let topic, let latest):
                core.restoreLatest(topic, latest)
            }
        }
        try journal.rewrite { fresh in
            core.forEachTopic { topic, latest, events in
                if events.isEmpty { fresh.appendLatest(topic, latest) }
                for event in events { fresh.append(event.header, body: event.body) }
            }
        }
        logger.info("event journal loaded", metadata: ["directory": "\(directory)", "records": "\(records.count)",
                                                       "sync": "\(options.syncJournal)"])
        return journal
    }

    /// Binds and serves until `stop()`. `onReady` receives the bound agent and events endpoints
    /// (useful with port `*`).
    public func run(onReady: (_ endpoint: String, _ eventsEndpoint: String) -> Void = { _, _ in }) throws {
        let context = try Context()
        let authenticator = try options.security?.startAuthenticator(context)
        defer { authenticator?.stop() }
        let router = try Socket(context, type: .router)
        defer { router.close() }
        try options.security?.apply(to: router)
        try router.setRouterMandatory(true)
        try router.setSendHighWaterMark(options.highWaterMark)
        try router.setReceiveHighWaterMark(options.highWaterMark)
        try router.setMaxMessageSize(options.transportFrameLimit)
        try router.setLinger(milliseconds: 1_000)
        if options.transportHeartbeatMilliseconds > 0 {
            let interval = options.transportHeartbeatMilliseconds
            try router.setHeartbeat(interval: interval, timeout: interval * 3, ttl: interval * 3)
        }
        try router.bind(options.endpoint)
        let events = try Socket(context, type: .xpub)
        defer { events.close() }
        try events.setSendHighWaterMark(options.eventsHighWaterMark)
        try options.security?.apply(to: events)
        try events.setLinger(milliseconds: 1_000)
        try events.bind(options.eventsEndpoint)
        let endpoint = (try? router.lastEndpoint) ?? options.endpoint
        let eventsEndpoint = (try? events.lastEndpoint) ?? options.eventsEndpoint
        logger.info("broker listening", metadata: ["endpoint": "\(endpoint)", "events": "\(eventsEndpoint)"])
        onReady(endpoint, eventsEndpoint)

        var configuration = options.core
        configuration.journaling = options.dataDirectory != nil
        var core = BrokerCore<Message>(configuration: configuration, now: MonotonicClock.milliseconds(),
                                       wallClock: WallClock.milliseconds(), keyRing: options.security?.keyRing)
        let journal = try options.dataDirectory.map { try openJournal($0, into: &core) }
        var loop = ReactorLoop(router: router, events: events, journal: journal, core: core, logger: logger)
        var poller = Poller()
        poller.add(router)
        let eventsIndex = poller.add(events)
        let wakeIndex = poller.add(fileDescriptor: wake.fileDescriptor)
        var drainingUntil: UInt64?
        while true {
            let now = MonotonicClock.milliseconds()
            if drainingUntil == nil, stopping.load(ordering: .acquiring) {
                // Graceful shutdown: refuse new requests, let the pending ones finish within the grace period.
                drainingUntil = now + options.shutdownGraceMilliseconds
                loop.core.beginDraining()
                logger.notice("shutting down: draining pending requests",
                              metadata: ["pending": "\(loop.core.pendingCount)", "grace ms": "\(options.shutdownGraceMilliseconds)"])
            }
            if let deadline = drainingUntil, loop.core.pendingCount == 0 || now >= deadline { break }
            try loop.runTimers(now: now)
            let wait = loop.core.nextWakeup > now ? min(loop.core.nextWakeup - now, drainingUntil == nil ? 1_000 : 50) : 0
            _ = try poller.poll(timeoutMilliseconds: Int(wait))
            if poller.isReadable(wakeIndex) { wake.drain() }
            if poller.isReadable(eventsIndex) { try loop.drainSubscriptions() }
            try loop.drainInbound()
        }
        let unfinished = loop.core.pendingCount
        loop.core.shutdown()
        try loop.flush()
        logger.info("broker stopped", metadata: ["endpoint": "\(endpoint)", "ended UNAVAILABLE": "\(unfinished)"])
    }
}
