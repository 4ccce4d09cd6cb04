import CoreMetrics
import ParleyGateway
import ParleyOperations
import ParleyWire
import Synchronization

/// The gateway's `/metrics` and `/health`.
///
/// The reactor stores a ``GatewaySample`` every `sample-ms`; the metrics server's thread turns the latest one into
/// swift-metrics counters, gauges and the forward-latency histogram before each scrape and once a second. Thread-safe.
final class GatewayMetrics: Sendable {
    let endpoint: MetricsEndpoint
    let latest: LatestSample<GatewaySample>
    private let exported: Mutex<Exported>
    private let reloadsRejected = Atomic<Int>(0)

    init(sampleIntervalMilliseconds: UInt64) {
        endpoint = MetricsEndpoint(program: "parley-gateway")
        latest = LatestSample(intervalMilliseconds: sampleIntervalMilliseconds)
        exported = Mutex(Exported(factory: endpoint.factory))
    }

    /// Keeps `sample` for the next export. Reactor thread.
    func store(_ sample: GatewaySample) {
        latest.store(sample)
    }

    /// A SIGHUP whose policy file was refused (the reactor never sees those).
    func reloadRejected() {
        reloadsRejected.add(1, ordering: .relaxed)
    }

    /// Brings the metrics up to the latest sample. Metrics server thread.
    func refresh() {
        guard let (sample, age) = latest.load() else { return }
        let rejected = UInt64(reloadsRejected.load(ordering: .relaxed))
        exported.withLock { $0.update(sample, rejected: rejected, age: age) }
    }

    /// GET handler of the metrics server: `/health` is 200 while the reactor reports on time, the broker has
    /// welcomed the gateway and it is not draining.
    func route(_ method: String, _ path: String) -> HTTPResponse? {
        endpoint.route(path) {
            latest.health(problem: { $0.brokerConnected ? nil : "no-broker" }) { sample in
                "\"broker\":\"\(sample.brokerConnected ? "connected" : "disconnected")\","
                    + "\"callers\":\(sample.callers),\"forwards\":\(sample.forwardsInFlight)"
            }
        }
    }
}

extension GatewaySample: ReactorSample {}

/// The labels of `parley_gateway_decisions_total`.
private struct RuleVerdict: Hashable {
    var rule, verdict: String
}

/// The swift-metrics objects mirroring a sample. Only the metrics server's thread touches them (under the Mutex).
private final class Exported {
    let factory: any MetricsFactory
    /// By rule and verdict (the edges a rule covers are summed).
    var decisions: [RuleVerdict: CounterMirror] = [:]
    let outcomes: [(String, CounterMirror)]
    let latency: HistogramMirror
    let reloads, reloadsRejected, auditFailures: CounterMirror
    let callers, forwards, brokerConnected, rules, draining, sampleAge: Gauge

    init(factory: any MetricsFactory) {
        self.factory = factory
        func gauge(_ name: String) -> Gauge { Gauge(label: "parley_gateway_\(name)", factory: factory) }
        outcomes = Status.allCases.map { status in
            (status.description, CounterMirror("parley_gateway_outcomes_total", [("outcome", status.description)], factory: factory))
        }
        latency = HistogramMirror("parley_gateway_forward_duration_seconds", factory: factory)
        reloads = CounterMirror("parley_gateway_policy_reloads_total", [("result", "applied")], factory: factory)
        reloadsRejected = CounterMirror("parley_gateway_policy_reloads_total", [("result", "rejected")], factory: factory)
        auditFailures = CounterMirror("parley_gateway_audit_failures_total", [], factory: factory)
        callers = gauge("callers")
        forwards = gauge("forwards_in_flight")
        brokerConnected = gauge("broker_connected")
        rules = gauge("policy_rules")
        draining = gauge("draining")
        sampleAge = gauge("sample_age_seconds")
        for (_, mirror) in outcomes { mirror.update(to: 0) }
        reloads.update(to: 0)
        reloadsRejected.update(to: 0)
        auditFailures.update(to: 0)
    }

    func update(_ sample: GatewaySample, rejected: UInt64, age: UInt64) {
        var totals: [RuleVerdict: UInt64] = [:]
        for (key, total) in sample.decisions { totals[RuleVerdict(rule: key.rule, verdict: key.verdict), default: 0] += total }
        for (key, total) in totals {
            let mirror = decisions[key] ?? CounterMirror("parley_gateway_decisions_total", [("rule", key.rule), ("verdict", key.verdict)],
                                                         factory: factory)
            decisions[key] = mirror
            mirror.update(to: total)
        }
        for (name, mirror) in outcomes { mirror.update(to: sample.outcomes[name] ?? 0) }
        latency.update(to: sample.forwardLatency)
        reloads.update(to: sample.policyReloads)
        reloadsRejected.update(to: rejected)
        auditFailures.update(to: sample.auditFailures)
        callers.record(sample.callers)
        forwards.record(sample.forwardsInFlight)
        brokerConnected.record(sample.brokerConnected ? 1 : 0)
        rules.record(sample.policyRules)
        draining.record(sample.draining ? 1 : 0)
        sampleAge.record(Double(age) / 1_000)
    }
}
