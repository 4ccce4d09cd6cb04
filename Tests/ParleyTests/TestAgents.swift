import Parley
import Synchronization

/// Connects an SDK agent to `broker`.
func connectedAgent(_ id: String, layer: String = "domain", capabilities: [String] = [], broker: BrokerProcess,
                    eventsHighWaterMark: Int32 = 10_000, backlogLimit: Int = 10_000, gateway: String? = nil,
                    curve: CurveKeys? = nil, handler: RequestHandler? = nil,
                    configure: (inout AgentConfiguration) -> Void = { _ in }) async throws -> Agent {
    var configuration = AgentConfiguration(id: id, layer: layer, capabilities: capabilities, brokerEndpoint: broker.endpoint,
                                           eventsEndpoint: broker.eventsEndpoint)
    configuration.connectTimeout = .seconds(20)
    configuration.eventsHighWaterMark = eventsHighWaterMark
    configuration.subscriptionBacklogLimit = backlogLimit
    configuration.curve = curve
    if let gateway { configuration.gatewayEndpoint = gateway }
    configure(&configuration)
    let agent = try Agent(configuration)
    if let handler { agent.serve(handler) }
    try await agent.connect()
    return agent
}

/// A handler that echoes the body and counts calls and the attempt numbers it saw.
final class EchoRecorder: Sendable {
    private let seen = Mutex<[Int]>([])

    /// The attempt number of every request handled, in order.
    var attempts: [Int] { seen.withLock { $0 } }
    var calls: Int { seen.withLock { $0.count } }

    func handler(delay: Duration = .zero) -> RequestHandler {
        { request in
            self.seen.withLock { $0.append(request.attempt) }
            if delay > .zero { try await Task.sleep(for: delay) }
            return .answer(bytes: request.body)
        }
    }
}
