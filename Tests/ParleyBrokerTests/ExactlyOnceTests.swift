import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Every request ends in exactly one RESULT, delivered to its own requester")
struct ExactlyOnceTests {
    @Test("1,000 interleaved requests from 10 requesters to 3 echo agents each get their own RESULT and body",
          .timeLimit(.minutes(1)))
    func noCrossTalk() throws {
        var broker = BrokerHarness()
        let requesters = (0..<10).map { broker.register("requester-\($0)") }
        let echoes = (0..<3).map { broker.register("echo-\($0)", capabilities: ["echo"]) }
        let echoByPeer = Dictionary(uniqueKeysWithValues: echoes.map { ($0.peer, $0) })
        let requesterByPeer = Dictionary(uniqueKeysWithValues: requesters.map { ($0.peer, $0) })
        var generator = SeededGenerator(seed: 1_000)
        var expectedBody: [RequestRef: [UInt8]] = [:]
        var held: [(agent: Agent, deliver: Deliver, body: TestPayload?)] = []
        var results: [RequestRef: Int] = [:]

        func collect(_ messages: [Outgoing]) {
            for message in messages {
                if let deliver = message.deliver, let echo = echoByPeer[message.peer] {
                    held.append((echo, deliver, message.payload))
                } else if let result = message.result {
                    guard let requester = requesterByPeer[message.peer] else {
                        Issue.record("RESULT sent to a peer that is no requester")
                        continue
                    }
                    let ref = RequestRef(requester: requester.id, callbackID: result.callbackID)
                    #expect(result.status == .ok)
                    #expect(expectedBody[ref] != nil, "RESULT for a request \(requester.id) never made")
                    #expect(message.payload?.bytes == expectedBody[ref])
                    results[ref, default: 0] += 1
                } else {
                    Issue.record("unexpected message \(message.header)")
                }
            }
        }

        var sent = 0
        while sent < 1_000 || !held.isEmpty {
            if sent < 1_000, held.isEmpty || Bool.random(using: &generator) {
                let requester = requesters.randomElement(using: &generator)!
                let id = generator.callbackID()
                let body = Array("\(requester.id) #\(sent) \(id)".utf8)
                expectedBody[RequestRef(requester: requester.id, callbackID: id)] = body
                collect(broker.request(from: requester, to: .capability("echo"), id: id, body: TestPayload(body)))
                sent += 1
            } else {
                let index = Int.random(in: held.indices, using: &generator)
                let (agent, deliver, body) = held.remove(at: index)
                collect(broker.reply(from: agent, to: deliver, body: body.map { TestPayload($0.bytes) }))
            }
        }
        #expect(results.count == 1_000)
        #expect(results.values.allSatisfy { $0 == 1 })
        #expect(broker.snapshot.pending == 0)
        #expect(broker.snapshot.agents.allSatisfy { $0.inFlight == 0 })
    }

    @Test("a random scenario with timeouts, replies, cancels, retries and agents leaving ends every request exactly once",
          .timeLimit(.minutes(1)), arguments: [UInt64(1), 2, 3])
    func randomScenario(seed: UInt64) throws {
        var scenario = Scenario(seed: seed)
        for _ in 0..<4_000 { scenario.step() }
        scenario.finish()

        #expect(scenario.results.count == scenario.requested.count)
        let wrong = scenario.requested.filter { scenario.results[$0] != 1 }
        #expect(wrong.isEmpty, """
            \(wrong.count) of \(scenario.requested.count) requests did not get exactly one RESULT, e.g. \
            \(wrong.prefix(3).map { "\($0.requester)/\($0.callbackID): \(scenario.results[$0] ?? 0)" })
            """)
        #expect(scenario.misdirected == 0)
        #expect(scenario.broker.snapshot.pending == 0)
        // The scenario must have exercised the paths it claims to.
        let counters = scenario.broker.core.counters
        for status in [Status.ok, .declined, .failed, .timeout, .cancelled, .noRoute, .unauthorized] {
            #expect(counters.outcomes(status) > 0, "no \(status) outcome in the scenario")
        }
        #expect(counters.redeliveries > 0)
        #expect(counters.dedupeHits > 0)
        #expect(counters.lateReplies > 0)
    }
}

/// A seeded random workload: requesters send requests, servers answer, stall, leave and come back,
/// and the clock moves; every RESULT is counted per request.
private struct Scenario {
    struct Server {
        var agent: Agent
        var state: State
        enum State: Equatable { case live, silent(untilStep: Int), left(untilStep: Int) }
    }

    var broker: BrokerHarness
    var generator: SeededGenerator
    let requesters: [Agent]
    var servers: [Server]
    var stepNumber = 0
    /// Requests sent once (refused at once or accepted), and how many RESULTs each got.
    var requested: Set<RequestRef> = []
    var results: [RequestRef: Int] = [:]
    var bodies: [RequestRef: [UInt8]] = [:]
    /// Deliveries each server holds, by its peer.
    var held: [PeerID: [Deliver]] = [:]
    var misdirected = 0

    init(seed: UInt64) {
        var broker = BrokerHarness(.forTests {
            $0.heartbeatMilliseconds = 1_000
            $0.liveness = 3
            $0.maxDeadlineMilliseconds = 4_000
            $0.awayRetentionMilliseconds = 20_000
        })
        requesters = (0..<5).map { broker.register("r\($0)") }
        servers = (0..<4).map { Server(agent: broker.register("s\($0)", capabilities: ["work"]), state: .live) }
        _ = broker.register("outsider", layer: "infra", capabilities: ["work"])
        self.broker = broker
        generator = SeededGenerator(seed: seed)
    }

    private var unresolved: [RequestRef] { requested.filter { results[$0] == nil }.sorted { $0.callbackID.description < $1.callbackID.description } }

    mutating func step() {
        stepNumber += 1
        rejoinServers()
        let roll = Int.random(in: 0..<100, using: &generator)
        switch roll {
        case 0..<35: newRequest()
        case 35..<60: answer()
        case 60..<64: progress()
        case 64..<70: cancel()
        case 70..<75: retry()
        case 75..<77: goSilent()
        case 77..<79: leave()
        case 79..<81: dropConnection()
        default: advance(by: UInt64.random(in: 1...250, using: &generator))
        }
    }

    /// Lets everything end: servers come back, the clock runs past every deadline.
    mutating func finish() {
        for index in servers.indices {
            switch servers[index].state {
            case .live: continue
            case .silent: servers[index].state = .silent(untilStep: 0)
            case .left: servers[index].state = .left(untilStep: 0)
            }
        }
        rejoinServers()
        for _ in 0..<20 { advance(by: 500) }
    }

    private mutating func newRequest() {
        let requester = requesters.randomElement(using: &generator)!
        let id = generator.callbackID()
        let targets: [Target] = [.capability("work"), .capability("work"), .capability("work"), .agent("s0"), .agent("s1"),
                                 .agent("s2"), .agent("s3"), .agent("ghost"), .agent("outsider"), .capability("none")]
        let target = targets.randomElement(using: &generator)!
        let ref = RequestRef(requester: requester.id, callbackID: id)
        let body = Array("\(ref)".utf8)
        requested.insert(ref)
        bodies[ref] = body
        let timeout = UInt32.random(in: 50...3_000, using: &generator)
        observe(broker.request(from: requester, to: target, id: id, timeout: timeout, body: TestPayload(body)))
    }

    private mutating func answer() {
        guard let (server, index) = randomHeldDelivery() else { return }
        let deliver = held[server.peer]!.remove(at: index)
        let status = [Status.ok, .ok, .declined, .failed].randomElement(using: &generator)!
        observe(broker.reply(from: server, to: deliver, status: status))
    }

    private mutating func progress() {
        guard let (server, index) = randomHeldDelivery() else { return }
        let deliver = held[server.peer]![index]
        let extend = UInt32.random(in: 0...2_000, using: &generator)
        observe(broker.send(.progress(ProgressReport(deliveryID: deliver.deliveryID, extendMilliseconds: extend)), from: server))
    }

    private mutating func cancel() {
        guard let ref = unresolved.randomElement(using: &generator) else { return }
        let requester = requesters.first { $0.id == ref.requester }!
        observe(broker.send(.cancel(ref.callbackID), from: requester))
    }

    private mutating func retry() {
        guard let ref = unresolved.randomElement(using: &generator) else { return }
        let requester = requesters.first { $0.id == ref.requester }!
        let messages = broker.request(from: requester, to: .capability("work"), id: ref.callbackID, body: TestPayload(bodies[ref]!))
        #expect(messages.isEmpty, "a retry of a pending request produced \(messages.map(\.header))")
        observe(messages)
    }

    private mutating func goSilent() {
        guard let index = liveServerIndex() else { return }
        servers[index].state = .silent(untilStep: stepNumber + Int.random(in: 20...200, using: &generator))
    }

    private mutating func leave() {
        guard let index = liveServerIndex() else { return }
        observe(broker.send(.bye, from: servers[index].agent))
        held[servers[index].agent.peer] = nil
        servers[index].state = .left(untilStep: stepNumber + Int.random(in: 20...200, using: &generator))
    }

    private mutating func dropConnection() {
        guard let index = liveServerIndex() else { return }
        let peer = servers[index].agent.peer
        observe(broker.direct { core, now in core.peerUnreachable(peer, now: now) })
        servers[index].state = .silent(untilStep: stepNumber + Int.random(in: 1...50, using: &generator))
    }

    /// Silent servers return as the same instance on a new connection; servers that left, as a new instance.
    private mutating func rejoinServers() {
        for index in servers.indices {
            let server = servers[index]
            switch server.state {
            case .live:
                continue
            case .silent(let until) where until <= stepNumber:
                let (agent, messages) = broker.hello(server.agent.id, capabilities: ["work"], instance: server.agent.instance)
                // The process still holds its old deliveries; answering them now must count as late.
                held[agent.peer] = held.removeValue(forKey: server.agent.peer)
                servers[index].agent = agent
                servers[index].state = .live
                observe(messages)
            case .left(let until) where until <= stepNumber:
                let (agent, messages) = broker.hello(server.agent.id, capabilities: ["work"])
                servers[index].agent = agent
                servers[index].state = .live
                observe(messages)
            default:
                continue
            }
        }
    }

    private mutating func advance(by milliseconds: UInt64) {
        for requester in requesters { observe(broker.send(.heartbeat, from: requester)) }
        for server in servers where server.state == .live { observe(broker.send(.heartbeat, from: server.agent)) }
        observe(broker.advance(by: milliseconds))
    }

    private mutating func observe(_ messages: [Outgoing]) {
        for message in messages {
            switch message.header {
            case .result(let result):
                guard let requester = requesters.first(where: { $0.peer == message.peer }) else {
                    misdirected += 1
                    continue
                }
                let ref = RequestRef(requester: requester.id, callbackID: result.callbackID)
                if !requested.contains(ref) { misdirected += 1 }
                results[ref, default: 0] += 1
            case .deliver(let deliver):
                held[message.peer, default: []].append(deliver)
            case .revoke(let deliveryID):
                held[message.peer]?.removeAll { $0.deliveryID == deliveryID }
            case .bye:
                // A server whose connection was dropped must register again.
                if let index = servers.firstIndex(where: { $0.agent.peer == message.peer }), servers[index].state == .live {
                    servers[index].state = .silent(untilStep: stepNumber)
                }
            default:
                continue
            }
        }
    }

    private mutating func randomHeldDelivery() -> (Agent, Int)? {
        let candidates = servers.filter { $0.state == .live && !(held[$0.agent.peer] ?? []).isEmpty }
        guard let server = candidates.randomElement(using: &generator) else { return nil }
        return (server.agent, Int.random(in: held[server.agent.peer]!.indices, using: &generator))
    }

    private mutating func liveServerIndex() -> Int? {
        servers.indices.filter { servers[$0].state == .live }.randomElement(using: &generator)
    }
}
