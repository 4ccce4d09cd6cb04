import CoreMetrics
import ParleyBroker
import ParleyOperations
import ParleyWire
import Synchronization

/// The broker's `/metrics` and `/health`.
///
/// The reactor stores a ``BrokerSample`` every `sample-ms` (one uncontended lock a second, never per message);
/// the metrics server's thread turns the latest one into swift-metrics counters and gauges before each scrape and
/// once a second. Thread-safe.
final class BrokerMetrics: Sendable {
    let endpoint: MetricsEndpoint
    let latest: LatestSample<BrokerSample>
    private let exported: Mutex<Exported>

    init(sampleIntervalMilliseconds: UInt64) {
        endpoint = MetricsEndpoint(program: "parley-broker")
        latest = LatestSample(intervalMilliseconds: sampleIntervalMilliseconds)
        exported = Mutex(Exported(factory: endpoint.factory))
    }

    /// Keeps `sample` for the next export. Reactor thread.
    func store(_ sample: BrokerSample) {
        latest.store(sample)
    }

    /// Brings the metrics up to the latest sample. Metrics server thread.
    func refresh() {
        guard let (sample, age) = latest.load() else { return }
        exported.withLock { $0.update(sample, age: age) }
    }

    /// GET handler of the metrics server: `/health` is 200 while the reactor reports on time and is not draining.
    func route(_ method: String, _ path: String) -> HTTPResponse? {
        endpoint.route(path) {
            latest.health { "\"agents\":\($0.snapshot.agents.count),\"pending\":\($0.snapshot.pending)" }
        }
    }
}

extension BrokerSample: ReactorSample {}

/// The swift-metrics objects mirroring a sample. Only the metrics server's thread touches them (under the Mutex).
private final class Exported {
    let outcomes: [(String, CounterMirror)]
    let accepted, deliveries, redeliveries, lateReplies, dedupeHits, malformed, duplicateIDs, dropped: CounterMirror
    let eventsPublished, eventsReplayed, gaps, eventDedupeHits: CounterMirror
    let agentsAlive, agentsAway, gateways, pending, waiting, cachedOutcomes, topics, journalFull, draining, sampleAge: Gauge

    init(factory: any MetricsFactory) {
        func counter(_ name: String) -> CounterMirror { CounterMirror("parley_broker_\(name)", factory: factory) }
        func gauge(_ name: String, _ dimensions: [(String, String)] = []) -> Gauge {
            Gauge(label: "parley_broker_\(name)", dimensions: dimensions, factory: factory)
        }
        outcomes = Status.allCases.map { status in
            (status.description, CounterMirror("parley_broker_requests_total", [("outcome", status.description)], factory: factory))
        }
        accepted = counter("requests_accepted_total")
        deliveries = counter("deliveries_total")
        redeliveries = counter("redeliveries_total")
        lateReplies = counter("late_replies_total")
        dedupeHits = counter("dedupe_hits_total")
        malformed = counter("malformed_total")
        duplicateIDs = counter("duplicate_ids_refused_total")
        dropped = counter("dropped_at_hwm_total")
        eventsPublished = counter("events_published_total")
        eventsReplayed = counter("events_replayed_total")
        gaps = counter("event_gaps_total")
        eventDedupeHits = counter("event_dedupe_hits_total")
        agentsAlive = gauge("agents", [("state", "alive")])
        agentsAway = gauge("agents", [("state", "away")])
        gateways = gauge("gateways")
        pending = gauge("pending_requests")
        waiting = gauge("waiting_requests")
        cachedOutcomes = gauge("cached_outcomes")
        topics = gauge("topics")
        journalFull = gauge("journal_full")
        draining = gauge("draining")
        sampleAge = gauge("sample_age_seconds")
        for (_, mirror) in outcomes { mirror.update(to: 0) }
    }

    func update(_ sample: BrokerSample, age: UInt64) {
        let snapshot = sample.snapshot
        for (name, mirror) in outcomes { mirror.update(to: snapshot.outcomes[name] ?? 0) }
        accepted.update(to: snapshot.accepted)
        deliveries.update(to: snapshot.deliveries)
        redeliveries.update(to: snapshot.redeliveries)
        lateReplies.update(to: snapshot.lateReplies)
        dedupeHits.update(to: snapshot.dedupeHits)
        malformed.update(to: snapshot.malformed)
        duplicateIDs.update(to: snapshot.duplicateIDsRefused)
        dropped.update(to: sample.droppedAtHighWaterMark)
        eventsPublished.update(to: snapshot.eventsPublished)
        eventsReplayed.update(to: snapshot.eventsReplayed)
        gaps.update(to: snapshot.gapsReported)
        eventDedupeHits.update(to: snapshot.eventDedupeHits)
        let agents = snapshot.agents.filter { $0.layer != "gateway" }
        agentsAlive.record(agents.filter { $0.state == "alive" }.count)
        agentsAway.record(agents.filter { $0.state != "alive" }.count)
        gateways.record(snapshot.agents.count - agents.count)
        pending.record(snapshot.pending)
        waiting.record(snapshot.waiting)
        cachedOutcomes.record(snapshot.cachedOutcomes)
        topics.record(snapshot.topics)
        journalFull.record(sample.journalFull ? 1 : 0)
        draining.record(sample.draining ? 1 : 0)
        sampleAge.record(Double(age) / 1_000)
    }
}
