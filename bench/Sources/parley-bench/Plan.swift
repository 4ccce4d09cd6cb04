import ArgumentParser

/// What carries the traffic of a scenario.
enum ScenarioKind: String, CaseIterable, ExpressibleByArgument, Sendable {
    /// Baseline: requester → logic-free ROUTER/ROUTER forwarder → echo worker (raw libzmq frames).
    case forwarder
    /// Requester agent → parley-broker → echo agent (raw protocol).
    case helpRR = "help-rr"
    /// Requester agent → parley-gateway → parley-broker → echo agent in another layer (raw protocol).
    case crossLayerRR = "cross-layer-rr"
    /// The help-rr traffic with both agents written with the Swift SDK.
    case sdkRR = "sdk-rr"
    /// Baseline: PUB → logic-free XSUB/XPUB proxy → SUB subscribers (raw libzmq frames).
    case proxy
    /// Publisher agent (PUBLISH, CONFIRM window) → parley-broker → SUB subscribers on the events socket.
    case events
    /// The events traffic with the publisher and subscribers written with the Swift SDK.
    case sdkEvents = "sdk-events"

    var isRequestReply: Bool { [.forwarder, .helpRR, .crossLayerRR, .sdkRR].contains(self) }
    var isBaseline: Bool { self == .forwarder || self == .proxy }
    /// The baseline that carries the same traffic over raw libzmq.
    var baselineKind: ScenarioKind { isRequestReply ? .forwarder : .proxy }
}

/// One scenario of the plan: what runs and with which parameters.
struct ScenarioSpec: Sendable {
    var kind: ScenarioKind
    var bodyBytes = 100
    /// Request/reply: requests in flight per requester (closed loop).
    var window = 100
    var requesters = 1
    var responders = 1
    /// Request/reply: open loop at a fixed offered rate (decided at run time, see `Plan.fixedRate`).
    var fixedRate = false
    /// Events: subscriber processes.
    var subscribers = 1

    /// `help-rr-w100-100b`, `help-rr-n4m2-w100-100b`, `help-rr-fixed-100b`, `events-1to10-100b`.
    var name: String {
        var parts = [kind.rawValue]
        if kind.isRequestReply {
            if requesters != 1 || responders != 1 { parts.append("n\(requesters)m\(responders)") }
            parts.append(fixedRate ? "fixed" : "w\(window)")
        } else {
            parts.append("1to\(subscribers)")
        }
        parts.append(bodyBytes % 1_024 == 0 && bodyBytes > 0 ? "\(bodyBytes / 1_024)kb" : "\(bodyBytes)b")
        return parts.joined(separator: "-")
    }

    /// The same traffic on the raw libzmq baseline (for a baseline: itself).
    var baseline: ScenarioSpec {
        var spec = self
        spec.kind = kind.baselineKind
        return spec
    }

    /// Short description for people.
    var shape: String {
        if kind.isRequestReply {
            let load = fixedRate ? "fixed rate" : "W=\(window)"
            return "\(requesters)×\(responders) \(load) \(bodyBytes) B"
        }
        return "1→\(subscribers) \(bodyBytes) B"
    }
}

/// The goals of the issue, each a ratio of two scenarios of the same round.
struct Goal: Sendable {
    enum Metric: String, Sendable { case rate, p99 }
    let id: String
    /// The scenario measured and the one it is compared with.
    let scenario: String
    let against: String
    let metric: Metric
    /// rate: the ratio must be at least `target`; p99: at most `target`.
    let target: Double
    /// Events goals also require zero loss.
    let zeroLoss: Bool

    var text: String {
        let comparison = metric == .rate ? "rate ≥ \(format(target))×" : "p99 ≤ \(format(target))×"
        return "\(scenario) \(comparison) \(against)\(zeroLoss ? ", zero loss" : "")"
    }

    func passes(_ value: Double, loss: UInt64) -> Bool {
        (metric == .rate ? value >= target : value <= target) && (!zeroLoss || loss == 0)
    }

    static let all: [Goal] = [
        Goal(id: "G1", scenario: "help-rr-w100-100b", against: "forwarder-w100-100b", metric: .rate, target: 0.8, zeroLoss: false),
        Goal(id: "G2", scenario: "help-rr-w1-100b", against: "forwarder-w1-100b", metric: .p99, target: 1.3, zeroLoss: false),
        Goal(id: "G3", scenario: "events-1to1-100b", against: "proxy-1to1-100b", metric: .rate, target: 0.7, zeroLoss: true),
        Goal(id: "G4", scenario: "cross-layer-rr-w100-100b", against: "help-rr-w100-100b", metric: .rate, target: 0.5, zeroLoss: false),
        Goal(id: "G5", scenario: "sdk-rr-w100-100b", against: "help-rr-w100-100b", metric: .rate, target: 0.5, zeroLoss: false),
    ]
}

/// The scenarios of a run, in order. Each scenario comes right after the scenarios it is compared with,
/// so that a comparison spans as little of the machine's drift as possible.
enum Plan {
    static func scenarios(bodyBytes: Int, largeBodyBytes: Int) -> [ScenarioSpec] {
        let small = bodyBytes
        var plan: [ScenarioSpec] = []
        for window in [100, 1] {
            for kind in [ScenarioKind.forwarder, .helpRR, .crossLayerRR, .sdkRR] {
                plan.append(ScenarioSpec(kind: kind, bodyBytes: small, window: window))
            }
        }
        for window in [100, 1] {
            for kind in [ScenarioKind.forwarder, .helpRR] {
                plan.append(ScenarioSpec(kind: kind, bodyBytes: largeBodyBytes, window: window))
            }
        }
        for kind in [ScenarioKind.forwarder, .helpRR] {
            plan.append(ScenarioSpec(kind: kind, bodyBytes: small, window: 100, requesters: 4, responders: 2))
        }
        for kind in [ScenarioKind.forwarder, .helpRR] {
            plan.append(ScenarioSpec(kind: kind, bodyBytes: small, fixedRate: true))
        }
        for subscribers in [1, 10] {
            for kind in [ScenarioKind.proxy, .events, .sdkEvents] where !(kind == .sdkEvents && subscribers != 1) {
                plan.append(ScenarioSpec(kind: kind, bodyBytes: small, subscribers: subscribers))
            }
        }
        return plan
    }
}
