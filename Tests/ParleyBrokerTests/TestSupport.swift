import ParleyBrokerCore
import ParleyWire
import Testing

// Shared fixtures for the broker-core tests: a byte-array payload, a harness that drives the core with an
// explicit clock, and accessors that read the outbox.

/// A payload made of bytes. A class, so that a test can tell "this payload was passed through" (the same object,
/// `===`) from "a payload with equal bytes".
final class TestPayload: BrokerPayload {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    convenience init(_ text: String) { self.init(Array(text.utf8)) }

    var text: String { String(decoding: bytes, as: UTF8.self) }

    var fingerprint: UInt64 { bytes.withUnsafeBytes(payloadFingerprint) }

    var byteCount: Int { bytes.count }
}

typealias Outgoing = Outbound<TestPayload>

/// A registered agent as the test sees it: its id, layer, instance and current connection.
struct Agent: Hashable {
    let id: String
    let layer: String
    let instance: UInt64
    let peer: PeerID
}

extension BrokerConfiguration {
    /// Defaults with a slow heartbeat (10 s, liveness 3), so that only liveness tests need to heartbeat.
    static func forTests(_ adjust: (inout BrokerConfiguration) -> Void = { _ in }) -> BrokerConfiguration {
        var configuration = BrokerConfiguration()
        configuration.heartbeatMilliseconds = 10_000
        configuration.liveness = 3
        configuration.startupRouteGraceMilliseconds = 0
        adjust(&configuration)
        return configuration
    }
}

/// Drives a `BrokerCore` with an explicit clock. Every call returns the messages it caused and empties the outbox.
struct BrokerHarness {
    /// Where the clock starts: far from 0, so that time arithmetic near the origin plays no part by accident.
    static let start: UInt64 = 1_000_000

    var core: BrokerCore<TestPayload>
    /// The current time in milliseconds; `advance` moves it and runs the core's timers.
    private(set) var now: UInt64
    private var peerCounter: UInt32 = 0
    private var instanceCounter: UInt64 = 1_000

    /// `seed` is the core's (fixed by default, so that runs repeat; the broker process gives a random one).
    init(_ configuration: BrokerConfiguration = .forTests(), start: UInt64 = BrokerHarness.start, seed: UInt64 = 0x5eed_0f_c0de) {
        core = BrokerCore(configuration: configuration, now: start, seed: seed)
        now = start
    }

    /// A routing id never used before.
    mutating func newPeer() -> PeerID {
        peerCounter += 1
        return PeerID(withUnsafeBytes(of: peerCounter.bigEndian) { [0x00] + Array($0) })
    }

    /// Sends HELLO and returns the agent and everything the broker sent in answer (WELCOME, redeliveries…).
    mutating func hello(_ id: String, layer: String = "app", capabilities: [String] = [], instance: UInt64? = nil,
                        peer: PeerID? = nil) -> (agent: Agent, messages: [Outgoing]) {
        let instance = instance ?? nextInstance()
        let agent = Agent(id: id, layer: layer, instance: instance, peer: peer ?? newPeer())
        let messages = send(.hello(Hello(instance: instance, agentID: id, layer: layer, capabilities: capabilities)),
                            from: agent.peer)
        return (agent, messages)
    }

    /// Registers an agent, requiring that the broker welcomed it and sent nothing else.
    mutating func register(_ id: String, layer: String = "app", capabilities: [String] = [], instance: UInt64? = nil,
                           sourceLocation: SourceLocation = #_sourceLocation) -> Agent {
        let (agent, messages) = hello(id, layer: layer, capabilities: capabilities, instance: instance)
        #expect(messages.count == 1 && messages.first?.isWelcome == true && messages.first?.peer == agent.peer,
                "registering \(id)", sourceLocation: sourceLocation)
        return agent
    }

    /// Hands one message from `peer` to the core at the current time.
    mutating func send(_ header: Header, body: TestPayload? = nil, from peer: PeerID) -> [Outgoing] {
        core.handle(header, body: body, from: peer, now: now)
        return take()
    }

    mutating func send(_ header: Header, body: TestPayload? = nil, from agent: Agent) -> [Outgoing] {
        send(header, body: body, from: agent.peer)
    }

    /// Sends a REQUEST.
    mutating func request(from requester: Agent, to target: Target, id: CallbackID = .random(), timeout: UInt32 = 60_000,
                          kind: RequestKind = .help, contentType: String = "text/plain",
                          body: TestPayload? = TestPayload("please help")) -> [Outgoing] {
        send(.request(Request(callbackID: id, kind: kind, timeoutMilliseconds: timeout, target: target, contentType: contentType)),
             body: body, from: requester)
    }

    /// Sends a REPLY to a delivery.
    mutating func reply(from agent: Agent, to delivery: Deliver, status: Status = .ok,
                        body: TestPayload? = TestPayload("the answer")) -> [Outgoing] {
        send(.reply(Reply(deliveryID: delivery.deliveryID, status: status)), body: body, from: agent)
    }

    /// Sends HEARTBEAT from each agent.
    mutating func heartbeat(_ agents: Agent...) {
        for agent in agents {
            let messages = send(.heartbeat, from: agent)
            #expect(messages.isEmpty, "heartbeat from \(agent.id) answered with \(messages.map(\.header))")
        }
    }

    /// Moves the clock forward and runs the core's timers.
    mutating func advance(by milliseconds: UInt64) -> [Outgoing] {
        advance(to: now + milliseconds)
    }

    mutating func advance(to time: UInt64) -> [Outgoing] {
        precondition(time >= now, "the clock only moves forward")
        now = time
        core.tick(now: now)
        return take()
    }

    /// Moves the clock forward without running the timers (as when a message arrives before the reactor's next tick).
    mutating func setClockWithoutTick(to time: UInt64) {
        precondition(time >= now, "the clock only moves forward")
        now = time
    }

    /// Runs `body` on the core directly and returns the messages it caused.
    mutating func direct(_ body: (inout BrokerCore<TestPayload>, UInt64) -> Void) -> [Outgoing] {
        body(&core, now)
        return take()
    }

    /// Everything sent on the events socket so far.
    private(set) var published: [Publication<TestPayload>] = []

    /// The outbox so far, emptied (publications are kept in `published`), as the reactor sends it: registrations
    /// contested by this step are settled after it, with every holder reachable (unless the step reported otherwise).
    mutating func take() -> [Outgoing] {
        core.closeTurn()
        var messages = core.outbox.messages
        published += core.publications.publications
        core.clearOutbox()
        if core.hasContestedHellos {
            core.settleContestedHellos(now: now)
            messages += take()
        }
        return messages
    }

    var snapshot: BrokerSnapshot { core.snapshot() }

    func agentState(_ id: String) -> String? { snapshot.agents.first { $0.id == id }?.state }

    func inFlight(_ id: String) -> Int? { snapshot.agents.first { $0.id == id }?.inFlight }

    private mutating func nextInstance() -> UInt64 {
        instanceCounter += 1
        return instanceCounter
    }
}

// MARK: - Reading messages

extension Outbound where Payload == TestPayload {
    var deliver: Deliver? { if case .deliver(let value) = header { value } else { nil } }
    var result: ResultHeader? { if case .result(let value) = header { value } else { nil } }
    var error: ErrorNotice? { if case .error(let value) = header { value } else { nil } }
    var extended: Extended? { if case .extended(let value) = header { value } else { nil } }
    var welcome: Welcome? { if case .welcome(let value) = header { value } else { nil } }
    var revokedDelivery: UInt64? { if case .revoke(let id) = header { id } else { nil } }
    var isWelcome: Bool { welcome != nil }
    var isBye: Bool { header == .bye }
    var isHeartbeat: Bool { header == .heartbeat }

    /// The payload body, if the body is one.
    var payload: TestPayload? { if case .payload(let value) = body { value } else { nil } }
    /// The broker-written reason, if the body is one.
    var text: String? { if case .text(let value) = body { value } else { nil } }
    var hasNoBody: Bool { if case .none = body { true } else { false } }
}

extension Array where Element == Outgoing {
    /// The messages sent to one peer.
    func to(_ agent: Agent) -> [Outgoing] { filter { $0.peer == agent.peer } }
    var deliveries: [Deliver] { compactMap(\.deliver) }
    var results: [ResultHeader] { compactMap(\.result) }
    var errors: [ErrorNotice] { compactMap(\.error) }
    var revocations: [UInt64] { compactMap(\.revokedDelivery) }
}

extension Collection {
    /// The single element, when there is exactly one.
    var only: Element? { count == 1 ? first : nil }
}

/// A small deterministic generator (SplitMix64), so random scenarios are reproducible.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func callbackID() -> CallbackID { CallbackID(high: next(), low: next()) }
}

/// The most common fixture: a requester ("asker"), a solver ("solver"), and one request by agent id delivered to it.
struct DeliveredRequest {
    var broker: BrokerHarness
    let requester: Agent
    let solver: Agent
    let id: CallbackID
    let body: TestPayload
    let deliver: Deliver

    init(timeout: UInt32 = 60_000, configuration: BrokerConfiguration = .forTests(),
         sourceLocation: SourceLocation = #_sourceLocation) throws {
        broker = BrokerHarness(configuration)
        requester = broker.register("asker", sourceLocation: sourceLocation)
        solver = broker.register("solver", sourceLocation: sourceLocation)
        id = CallbackID.random()
        body = TestPayload("request \(id)")
        let messages = broker.request(from: requester, to: .agent("solver"), id: id, timeout: timeout, body: body)
        deliver = try #require(messages.deliveries.only, sourceLocation: sourceLocation)
    }
}

/// The identity of a request as the broker sees it.
struct RequestRef: Hashable {
    let requester: String
    let callbackID: CallbackID
}
