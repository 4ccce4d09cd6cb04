import ParleyBrokerCore
import ParleyWire

// The core fuzzer's input language. A fuzz input is a script: two configuration bytes, then operations.
// Each operation is an opcode byte (taken modulo the number of operations) followed by its argument
// bytes; a script that ends early reads zeros. Most operations build a header from small tables (agent
// ids, layers, capabilities, callback ids 0–15…) so that the fuzzer reaches deep states — retries that
// collide, replies to real deliveries, agents that come back — and encode it with HeaderEncoder; `raw`
// sends arbitrary header bytes. Either way the bytes then go through HeaderDecoder and into the core
// exactly as the reactor does it (ReactorLoop.handleOne).

/// The operations of a core fuzz script.
enum Op: UInt8, CaseIterable {
    /// peer, length, header bytes, body: any bytes as a header frame.
    case raw
    /// peer, agent, layer, capability mask, instance, identity.
    case hello
    /// peer, callback id, kind, timeout, target, body.
    case request
    /// peer, callback id, kind, timeout, target, body, caller, caller layer.
    case forward
    /// delivery pick, peer choice, status, body: answers a delivery seen earlier (or a made-up one).
    case reply
    /// delivery pick, peer choice, extension.
    case progress
    /// peer, callback id.
    case cancel
    /// peer.
    case heartbeat
    /// peer.
    case bye
    /// peer, event id, topic agent, event name, body.
    case publish
    /// peer, selector, from, to.
    case replay
    /// peer, instance, gateway id, token, identity.
    case gatewayHello
    /// amount: run the timers after moving the clock.
    case tick
    /// peer: the socket reported the peer unreachable.
    case unreachable
    /// peer, callback id, command: a framing refusal (too many frames, oversized body) of a REQUEST-like header.
    case refuseFraming
    /// selector: STATUS, start draining, shut down (last), restart (from the journal when journaling), or move
    /// the clock without running the timers.
    case admin
}

/// Names the scripts choose from, kept small so that choices collide.
enum Tables {
    static let agents = ["a0", "a1", "a2", "a3", "gw", "ghost"]
    static let layers = ["app", "domain", "infra", "gateway"]
    static let capabilities = ["work", "echo", "x.y"]
    static let targets: [Target] = [
        .agent("a0"), .agent("a1"), .agent("a2"), .agent("a3"), .agent("gw"), .agent("ghost"),
        .capability("work"), .capability("echo"), .capability("x.y"), .capability("none"),
        .layer("app", capability: nil), .layer("domain", capability: "work"), .layer("infra", capability: nil),
        .layer("app", capability: "echo"), .layer("gateway", capability: nil), .layer("nowhere", capability: nil),
    ]
    static let bodies: [[UInt8]?] = [nil, [], Array("x".utf8), Array("y".utf8), [UInt8](repeating: 0xAB, count: 3_000)]
    static let events = ["on_error", "e1", "on_task_start"]
    static let identities: [String?] = [nil, "a0", "a1", "a2", "a3", "gw", "nobody"]
    static let tokens = ["", "tok", "bad"]
    static let contentTypes = ["text/plain", ""]
    static let statuses: [Status] = [.ok, .declined, .failed]
    static let peerCount = 8

    /// Peer 7 has a 20-byte routing id (PeerID's out-of-line storage); the others are libzmq-like 2-byte ids.
    static let peers: [PeerID] = (0..<peerCount).map { index in
        index == peerCount - 1 ? PeerID([UInt8](repeating: 0xEE, count: 20)) : PeerID([0x00, 0x80 | UInt8(index)])
    }

    /// Agents a0–a3 in layers app, app, domain, infra; the gateway gw; a1 listed twice (the first wins).
    static let keyRing = KeyRing(entries: [
        KeyEntry(publicKey: "k0", id: "a0", layer: "app", role: .agent),
        KeyEntry(publicKey: "k1", id: "a1", layer: "app", role: .agent),
        KeyEntry(publicKey: "k2", id: "a2", layer: "domain", role: .agent, admin: true),
        KeyEntry(publicKey: "k3", id: "a3", layer: "infra", role: .agent),
        KeyEntry(publicKey: "kg", id: "gw", layer: nil, role: .gateway),
        KeyEntry(publicKey: "k1b", id: "a1", layer: "domain", role: .agent),
    ])

    static func callbackID(_ byte: UInt8) -> CallbackID { CallbackID(high: 0xCB, low: UInt64(byte % 16)) }
    static func eventID(_ byte: UInt8) -> CallbackID { CallbackID(high: 0xE7, low: UInt64(byte % 8)) }
    static func pick<T>(_ table: [T], _ byte: UInt8) -> T { table[Int(byte) % table.count] }
}

/// The configuration bytes: which broker the script runs against.
struct ScriptConfiguration {
    var configuration = BrokerConfiguration()
    var keyRing: KeyRing?
    /// The configuration bytes, for `seed(restarts:)`.
    private var bytes: UInt64 = 0

    init(_ first: UInt8, _ second: UInt8) {
        var c = BrokerConfiguration()
        c.heartbeatMilliseconds = [100, 250, 1_000, 1_000][Int(first & 3)]
        c.liveness = UInt64((first >> 2) & 3) + 1
        c.maxDeadlineMilliseconds = [2_000, 5_000][Int((first >> 4) & 1)]
        c.dedupeWindowMilliseconds = [1_500, 4_000, 30_000, 1][Int(second & 3)]
        c.dedupeCapacity = [64, 4, 1, 0][Int((second >> 2) & 3)]
        let tight = first & 0x20 != 0
        c.maxPendingPerRequester = tight ? 3 : 16
        c.maxPending = tight ? 5 : 48
        c.maxDeliveriesPerAgent = tight ? 1 : 4  // agents fill up: requests wait for room and requesters take turns
        c.maxDeliveryBytesPerAgent = tight ? 2 : 4_000  // and by bytes: two 1-byte bodies, or one of 3,000 and a few small
        c.awayRetentionMilliseconds = [3_000, 600][Int((second >> 4) & 1)]
        c.retentionCount = tight ? 3 : 20
        c.retentionBytes = tight ? 4_000 : 1 << 20
        c.retentionMilliseconds = 3_000
        c.retentionTotalBytes = tight ? 5_000 : 64 << 20  // tight: the broker-wide budget cuts across topics too
        c.maxTopics = tight ? 2 : 16
        c.maxTopicsPerAgent = tight ? 1 : 3  // quotas fill up: topics whose retention emptied are forgotten
        c.eventDedupeCapacity = tight ? 2 : 32
        c.maxReplayBatch = tight ? 2 : 16
        c.maxReplayBatchBytes = tight ? 600 : 4_000  // a 3,000-byte event fills a batch (the one that crosses is still sent)
        c.beaconRounds = 2
        c.gatewayToken = second & 0x20 != 0 ? "tok" : nil
        c.journaling = second & 0x40 != 0
        c.startupRouteGraceMilliseconds = first & 0x80 != 0 ? 0 : nil  // nil: heartbeat × liveness
        c.dedupeMaxBytes = second & 0x80 != 0 ? 6_000 : 64 << 20
        configuration = c
        keyRing = first & 0x40 != 0 ? Tables.keyRing : nil
        bytes = UInt64(first) << 8 | UInt64(second)
    }

    /// The seed of the core after `restarts` restarts (`BrokerCore(seed:)`: it keys the de-duplication hashes and
    /// starts the delivery ids). Taken from the configuration bytes rather than at random, so that an input replays
    /// the same way; each restart gets another one. Half of the seeds start the delivery sequence a few deliveries
    /// before it wraps around (the slab skips sequence 0).
    func seed(restarts: Int) -> UInt64 {
        var x = bytes &+ UInt64(restarts) &* 0x9e37_79b9_7f4a_7c15  // SplitMix64
        x = (x ^ (x >> 30)) &* 0xbf58_476d_1ce4_e5b9
        x = (x ^ (x >> 27)) &* 0x94d0_49bb_1331_11eb
        x ^= x >> 31
        if x & 1 == 0 { x = (0xFFFF_FFF0 | (x >> 33) & 0x7) << 32 | (x & 0xFFFF_FFFF) }
        return x == 0 ? 1 : x
    }
}

/// Reads a script; past the end it reads zeros.
struct ScriptReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { offset >= bytes.count }

    mutating func byte() -> UInt8 {
        defer { offset += 1 }
        return offset < bytes.count ? bytes[offset] : 0
    }

    mutating func bytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in byte() }
    }
}

/// Writes scripts for the seed corpus, one method per operation, so that seeds stay valid as the language grows.
struct ScriptWriter {
    private(set) var bytes: [UInt8]

    init(first: UInt8 = 0x02, second: UInt8 = 0x00) { bytes = [first, second] }

    private mutating func op(_ op: Op, _ arguments: UInt8...) {
        bytes.append(op.rawValue)
        bytes += arguments
    }

    private static func index<T: Equatable>(_ table: [T], _ value: T) -> UInt8 {
        UInt8(table.firstIndex(of: value)!)
    }

    mutating func raw(peer: UInt8, header: [UInt8], body: UInt8 = 0) {
        op(.raw, peer, UInt8(header.count))
        bytes += header
        bytes.append(body)
    }

    mutating func hello(peer: UInt8, agent: String, layer: String = "app", capabilities: UInt8 = 0, instance: UInt8 = 1,
                        identity: UInt8 = 0) {
        op(.hello, peer, Self.index(Tables.agents, agent), Self.index(Tables.layers, layer), capabilities, instance, identity)
    }

    mutating func request(peer: UInt8, id: UInt8, target: Target, timeout: UInt8 = 50, kind: UInt8 = 0, body: UInt8 = 2) {
        op(.request, peer, id, kind, timeout, Self.index(Tables.targets, target), body)
    }

    mutating func forward(peer: UInt8, id: UInt8, target: Target, caller: String, callerLayer: String, timeout: UInt8 = 50) {
        op(.forward, peer, id, 3, timeout, Self.index(Tables.targets, target), 2,
           Self.index(Tables.agents, caller), Self.index(Tables.layers, callerLayer))
    }

    /// Answers the `pick`-th delivery seen so far (from its own agent's connection when `ownPeer`).
    mutating func reply(pick: UInt8, ownPeer: Bool = true, status: UInt8 = 0, body: UInt8 = 3) {
        op(.reply, pick, ownPeer ? 1 : 0, status, body)
    }

    mutating func progress(pick: UInt8, extendTimes50: UInt8) { op(.progress, pick, 1, extendTimes50) }
    mutating func cancel(peer: UInt8, id: UInt8) { op(.cancel, peer, id) }
    mutating func heartbeat(peer: UInt8) { op(.heartbeat, peer) }
    mutating func bye(peer: UInt8) { op(.bye, peer) }

    mutating func publish(peer: UInt8, eventID: UInt8, agent: String, event: UInt8 = 0, body: UInt8 = 2) {
        op(.publish, peer, eventID, Self.index(Tables.agents, agent), event, body)
    }

    /// Selector: even = one topic (agent, event), odd = all of the agent's topics.
    mutating func replay(peer: UInt8, agent: String, event: UInt8? = 0, from: UInt8, to: UInt8 = 0) {
        let selector = event.map { UInt8(Tables.agents.firstIndex(of: agent)!) << 3 | $0 << 1 }
            ?? (UInt8(Tables.agents.firstIndex(of: agent)!) << 3 | 1)
        op(.replay, peer, selector, from, to)
    }

    mutating func gatewayHello(peer: UInt8, token: String = "tok", identity: UInt8 = 0) {
        op(.gatewayHello, peer, 1, Self.index(Tables.agents, "gw"), Self.index(Tables.tokens, token), identity)
    }

    /// Moves the clock by `amount` (see `ScriptRunner.advance`) and runs the timers.
    mutating func tick(_ amount: UInt8) { op(.tick, amount) }
    mutating func unreachable(peer: UInt8) { op(.unreachable, peer) }
    mutating func refuseFraming(peer: UInt8, id: UInt8, command: UInt8 = 0) { op(.refuseFraming, peer, id, command) }
    mutating func status() { op(.admin, 0) }
    mutating func drain() { op(.admin, 1) }
    mutating func shutdown() { op(.admin, 2) }
    mutating func restart() { op(.admin, 3) }
}

/// Payload bytes (a copy of the value shares the array's storage).
struct FuzzPayload: BrokerPayload {
    let bytes: [UInt8]
    var fingerprint: UInt64 { bytes.withUnsafeBytes(payloadFingerprint) }
    var byteCount: Int { bytes.count }
}
