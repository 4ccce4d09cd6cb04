import ParleyGateway
import ParleyPolicy
import ParleyWire
import Testing
import ZeroMQ

// Shared fixtures for the gateway-core tests: a small policy and keys file, and a harness that drives
// `GatewayCore` with an explicit clock. Every harness call returns what the core produced and empties its outboxes.

/// Layers: presentation, application, domain, infrastructure.
/// - `app-uses-domain`: application → domain, kinds call and help, up to 64 bytes, no rate.
/// - `domain-uses-infra`: domain → infrastructure, kind call only, up to 8 bytes, 2 per second.
let testPolicyText = """
    version: 1
    layers: [presentation, application, domain, infrastructure]
    default: deny
    rules:
      - name: app-uses-domain
        comment: Use cases call the domain.
        from: application
        to: domain
        kinds: [call, help]
        max_payload: 64B
      - name: domain-uses-infra
        comment: The domain calls infrastructure through its ports.
        from: domain
        to: infrastructure
        kinds: [call]
        max_payload: 8B
        rate: 2/s

    """

/// The same layers with a single rule that opens presentation → application (and closes application → domain).
let reloadedPolicyText = """
    version: 1
    layers: [presentation, application, domain, infrastructure]
    default: deny
    rules:
      - name: ui-uses-app
        comment: The UI drives use cases.
        from: presentation
        to: application
        kinds: [call]
        max_payload: 1KiB

    """

let testKeysText = """
    keys:
      - id: orders
        layer: application
        public: "zuq@yE5s=}(}%$:f1I5>ga/3GlXYF0=D]Ao1RF#:"
      - id: pricing
        layer: domain
        public: "fM.[/7^CM]T6mjW4pQXBp-jb=gGqXlbfHIEYs0oA"
      - id: gateway-1
        role: gateway
        public: "DOfQdgwyQa!t$JYZq]UUb2RA8LKPA=qNAPf&T#RI"

    """

func testPolicy(_ text: String = testPolicyText) throws -> Policy {
    try Policy.parse(text, source: "test-policy.yaml")
}

func testKeyRing() throws -> KeyRing {
    try KeyRing.parse(testKeysText, source: "test-keys.yaml")
}

func peer(_ name: String) -> PeerID { PeerID(Array(name.utf8)) }

func payload(_ text: String) -> Message { Message(Array(text.utf8)) }

extension GatewayConfiguration {
    /// Heartbeat 1 s, liveness 3, grace 2 s: the documented defaults, spelled out so that the tests' times are readable.
    static func forTests(_ adjust: (inout GatewayConfiguration) -> Void = { _ in }) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.gatewayID = "gw-test"
        configuration.gatewayToken = { "secret" }
        configuration.heartbeatMilliseconds = 1_000
        configuration.liveness = 3
        configuration.graceMilliseconds = 2_000
        configuration.maxBodyBytes = 4_096
        adjust(&configuration)
        return configuration
    }
}

/// What one input made the core produce.
struct Produced {
    var front: [FrontOutbound] = []
    var back: [BackOutbound] = []
    var audit: [AuditRecord] = []
    var notices: [String] = []

    /// RESULT headers sent to callers (heartbeats and the rest left out).
    var results: [(peer: PeerID, result: ResultHeader, body: GatewayBody)] {
        front.compactMap { message in
            if case .result(let result) = message.header { return (message.peer, result, message.body) }
            return nil
        }
    }

    /// ERROR headers sent to callers.
    var errors: [(peer: PeerID, error: ErrorNotice, body: GatewayBody)] {
        front.compactMap { message in
            if case .error(let notice) = message.header { return (message.peer, notice, message.body) }
            return nil
        }
    }

    /// FORWARDs sent to the broker.
    var forwards: [(forward: Forward, body: GatewayBody)] {
        back.compactMap { message in
            if case .forward(let forward) = message.header { return (forward, message.body) }
            return nil
        }
    }
}

/// A registered caller as the tests see it.
struct Caller {
    let id: String
    let layer: String
    let instance: UInt64
    let peer: PeerID
}

/// The wall clock at `now == 0`, so audit times are `wallClockAtZero + now`.
let wallClockAtZero: UInt64 = 1_700_000_000_000

/// Drives a `GatewayCore` with an explicit clock (monotonic milliseconds, starting at 1 000).
struct Harness {
    var core: GatewayCore
    var now: UInt64 = 1_000

    init(policy: Policy? = nil, keyRing: KeyRing? = nil,
         configuration: GatewayConfiguration = .forTests()) throws {
        let policy = try policy ?? testPolicy()
        core = GatewayCore(configuration: configuration, policy: policy, keyRing: keyRing, now: 1_000,
                           wallClock: wallClockAtZero + 1_000)
    }

    /// A harness whose backend link is up and welcomed by the broker.
    static func connected(policy: Policy? = nil, keyRing: KeyRing? = nil,
                          configuration: GatewayConfiguration = .forTests()) throws -> Harness {
        var harness = try Harness(policy: policy, keyRing: keyRing, configuration: configuration)
        harness.core.backendConnected()
        harness.welcomeBackend()
        return harness
    }

    /// What the last input produced, its audit records taken as written (`auditWritten`) or not. Registrations it
    /// contested are settled after it, as the reactor does, with every holder reachable.
    mutating func take(auditWritten: Bool = true) -> Produced {
        let audit = core.audit
        core.settleAudit(written: auditWritten)
        var produced = Produced(front: core.frontOutbox, back: core.backOutbox, audit: audit, notices: core.notices)
        core.clearOutboxes()
        if core.hasContestedHellos {
            core.settleContestedHellos(now: now)
            let settled = take(auditWritten: auditWritten)
            produced.front += settled.front
            produced.back += settled.back
            produced.audit += settled.audit
            produced.notices += settled.notices
        }
        return produced
    }

    /// Moves the clock to `time` (never backwards).
    mutating func advance(to time: UInt64) {
        precondition(time >= now, "the clock only moves forwards")
        now = time
    }

    /// The broker's WELCOME on the backend link.
    @discardableResult
    mutating func welcomeBackend(heartbeat: UInt32 = 1_000) -> Produced {
        core.handleBack(.welcome(Welcome(heartbeatMilliseconds: heartbeat, liveness: 3, maxBodyBytes: 1 << 20)), body: nil, now: now)
        return take()
    }

    /// HELLO from `peer`; with a key ring, `identity` is the connection's CURVE user id.
    mutating func hello(_ id: String, layer: String, instance: UInt64 = 1, peer: PeerID, identity: String? = nil) -> Produced {
        core.handleFront(.hello(Hello(instance: instance, agentID: id, layer: layer, capabilities: [])), body: nil,
                         from: peer, identity: identity, now: now)
        return take()
    }

    /// Registers a caller and checks that it was welcomed.
    mutating func register(_ id: String, layer: String, instance: UInt64 = 1, identity: String? = nil,
                           sourceLocation: SourceLocation = #_sourceLocation) throws -> Caller {
        let connection = peer("conn-\(id)-\(instance)")
        let produced = hello(id, layer: layer, instance: instance, peer: connection, identity: identity)
        let welcome = try #require(produced.front.first, sourceLocation: sourceLocation)
        guard case .welcome = welcome.header else {
            Issue.record("HELLO of \(id) was answered with \(welcome.header), not WELCOME", sourceLocation: sourceLocation)
            throw HarnessError.notWelcomed
        }
        return Caller(id: id, layer: layer, instance: instance, peer: connection)
    }

    /// A REQUEST from `caller`.
    @discardableResult
    mutating func request(from caller: Caller, _ callbackID: CallbackID, to target: Target, kind: RequestKind = .call,
                          timeout: UInt32 = 10_000, body: Message? = nil, auditWritten: Bool = true) -> Produced {
        let request = Request(callbackID: callbackID, kind: kind, timeoutMilliseconds: timeout, target: target,
                              contentType: "text/plain")
        core.handleFront(.request(request), body: body, from: caller.peer, identity: nil, now: now)
        return take(auditWritten: auditWritten)
    }

    /// Any message from a caller's connection.
    @discardableResult
    mutating func front(_ header: Header, from caller: Caller, body: Message? = nil) -> Produced {
        core.handleFront(header, body: body, from: caller.peer, identity: nil, now: now)
        return take()
    }

    /// A message from the broker.
    @discardableResult
    mutating func back(_ header: Header, body: Message? = nil) -> Produced {
        core.handleBack(header, body: body, now: now)
        return take()
    }

    /// Runs the timers at `time`.
    @discardableResult
    mutating func tick(at time: UInt64) -> Produced {
        advance(to: time)
        core.tick(now: now)
        return take()
    }

    /// Forwards one allowed call and returns the gateway's backend callback id for it.
    mutating func forwarded(from caller: Caller, _ callbackID: CallbackID, to target: Target, timeout: UInt32 = 10_000,
                            body: Message? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> CallbackID {
        let produced = request(from: caller, callbackID, to: target, timeout: timeout, body: body)
        #expect(produced.forwards.count == 1, "expected one FORWARD, got \(produced.back.map(\.header))", sourceLocation: sourceLocation)
        return try #require(produced.forwards.first, sourceLocation: sourceLocation).forward.request.callbackID
    }
}

enum HarnessError: Error { case notWelcomed }

extension GatewayBody {
    /// The body's bytes as text (a payload's bytes, or the gateway's reason); nil for no body.
    var text: String? {
        switch self {
        case .none: nil
        case .payload(let message): message.string
        case .text(let text): text
        }
    }

    var isNone: Bool {
        if case .none = self { return true }
        return false
    }
}

/// Fixed callback ids, so that failures print readable values.
extension CallbackID {
    static let one = CallbackID(high: 0, low: 1)
    static let two = CallbackID(high: 0, low: 2)
    static let three = CallbackID(high: 0, low: 3)
}

let toDomain = Target.layer("domain", capability: "pricing")
let toInfrastructure = Target.layer("infrastructure", capability: nil)
