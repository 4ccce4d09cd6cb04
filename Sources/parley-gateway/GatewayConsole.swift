import ParleyGateway
import ParleyOperations
import ParleyPolicy

/// The gateway's console: the layer graph at `/` and `/api/graph` (deploy/OPERATIONS.md lists it), from the samples
/// the reactor already stores for the metrics. Each process serves its own console: the gateway knows the policy and
/// its decisions, the broker its agents and events, and neither has to reach the other. Thread-safe.
final class GatewayConsole: Sendable {
    private let api: ConsoleAPI

    init(latest: LatestSample<GatewaySample>) {
        api = ConsoleAPI(page: GatewayConsolePage.response, endpoints: [
            "graph": .init { _ in
                latest.load().map { ConsoleAPI.json(GraphView($0.sample, age: $0.age)) }
                    ?? ConsoleAPI.error(503, "starting: the gateway has not reported yet")
            },
        ])
    }

    /// The console's answer for `target`, or nil outside `/` and `/api/`.
    func route(_ target: HTTPRequestTarget) -> HTTPResponse? {
        api.route(target)
    }
}

/// `/api/graph`: the policy's layers and edges, with the decisions taken on each edge since start.
private struct GraphView: Encodable {
    struct Edge: Encodable {
        var from, to, rule: String
        /// False for an edge no rule covers: every call on it was denied by default.
        var inPolicy: Bool
        var allowed, denied: UInt64
    }

    var sampleAgeMs: UInt64
    var policySource: String
    var layers: [String]
    var edges: [Edge]

    init(_ sample: GatewaySample, age: UInt64) {
        sampleAgeMs = age
        policySource = sample.policy.source
        var layers = sample.policy.layers
        var edges = sample.policy.rules.map { Edge(from: $0.from, to: $0.to, rule: $0.name, inPolicy: true, allowed: 0, denied: 0) }
        for (key, count) in sample.decisions.sorted(by: { ($0.key.fromLayer, $0.key.toLayer) < ($1.key.fromLayer, $1.key.toLayer) }) {
            for layer in [key.fromLayer, key.toLayer] where !layers.contains(layer) { layers.append(layer) }
            let index = edges.firstIndex { $0.from == key.fromLayer && $0.to == key.toLayer } ?? {
                edges.append(Edge(from: key.fromLayer, to: key.toLayer, rule: key.rule, inPolicy: false, allowed: 0, denied: 0))
                return edges.count - 1
            }()
            if key.verdict == "allow" { edges[index].allowed += count } else { edges[index].denied += count }
        }
        self.layers = layers
        self.edges = edges
    }
}
