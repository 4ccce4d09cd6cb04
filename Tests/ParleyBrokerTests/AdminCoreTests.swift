import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("ADMIN in the broker core: who may evict and purge, and what each does")
struct AdminCoreTests {
    private static let keyRing = KeyRing(entries: [
        KeyEntry(publicKey: "k-ops", id: "ops", layer: "ops", role: .agent, admin: true),
        KeyEntry(publicKey: "k-ui", id: "ui", layer: "app", role: .agent, observer: true),
    ])

    private func administer(_ harness: inout BrokerHarness, _ action: AdminAction, _ target: String, identity: String? = nil,
                            loopback: Bool = true, journalHasRoom: Bool = true) -> (record: AdminRecord, sent: [Outgoing], marks: [TopicMark]) {
        let peer = harness.newPeer()
        var record: AdminRecord?
        var marks: [TopicMark] = []
        let sent = harness.direct { core, now in
            record = core.administer(AdminCommand(action: action, target: target), from: peer, identity: identity, loopback: loopback,
                                     journalHasRoom: journalHasRoom, now: now)
            marks = core.topicMarks
        }
        let reply = sent.filter { $0.peer == peer }
        #expect(reply.map(\.header) == [.adminReply(AdminReply(status: record!.status, action: action))], "one ADMIN_REPLY to the asker")
        #expect(reply.first?.text == record!.detail)
        return (record!, sent.filter { $0.peer != peer }, marks)
    }

    @Test("without CURVE only a connection from loopback is obeyed; with CURVE only an identity marked admin, not an observer")
    func whoMayAdminister() {
        var open = BrokerHarness()
        _ = open.register("worker")
        let remote = administer(&open, .evict, "worker", loopback: false)
        #expect(remote.record.status == .unauthorized)
        #expect(remote.record.detail.contains("loopback"))
        #expect(open.agentState("worker") == "alive", "a refused eviction changes nothing")

        var secured = BrokerHarness()
        secured.core = BrokerCore(configuration: .forTests(), now: BrokerHarness.start, keyRing: Self.keyRing, seed: 7)
        for identity in ["ui", nil] as [String?] {
            let refused = administer(&secured, .purge, "callback.ui.on_error", identity: identity)
            #expect(refused.record.status == .unauthorized, "identity \(identity ?? "none") from loopback is still refused")
            #expect(refused.record.detail.contains("not marked admin"))
        }
        #expect(administer(&secured, .purge, "callback.ui.on_error", identity: "ops").record.status == .noRoute)
    }

    @Test("evict unregisters an alive agent as BYE would: it gets HEARTBEAT then BYE, its delivery goes to another agent, requests for it by id end UNAVAILABLE")
    func evictAliveAgent() throws {
        var harness = BrokerHarness()
        let asker = harness.register("asker")
        let stuck = harness.register("stuck", capabilities: ["math"])
        let delivered = try #require(harness.request(from: asker, to: .capability("math")).to(stuck).deliveries.first)
        _ = harness.request(from: asker, to: .agent("stuck"))
        let spare = harness.register("spare", capabilities: ["math"])

        let (record, sent, _) = administer(&harness, .evict, "stuck")
        #expect(record.status == .ok)
        #expect(record.detail.contains("was alive, serving 2 request(s)"))
        #expect(sent.to(stuck).map(\.header) == [.heartbeat, .bye])
        let redelivered = try #require(sent.to(spare).deliveries.first)
        #expect(redelivered.callbackID == delivered.callbackID && redelivered.attempt == 2)
        #expect(sent.to(asker).results.map(\.status) == [.unavailable])
        #expect(harness.agentState("stuck") == nil)
        #expect(harness.send(.heartbeat, from: stuck).map(\.header) == [.bye], "the evicted connection is not registered any more")
    }

    @Test("evict frees an away agent's id for a newcomer of another instance; an unknown or invalid id is refused")
    func evictAwayAgentAndRefusals() {
        var harness = BrokerHarness()
        let ghost = harness.register("ghost")
        harness.core.peerUnreachable(ghost.peer, now: harness.now)
        #expect(harness.agentState("ghost") == "away")
        #expect(administer(&harness, .evict, "ghost").record.detail.contains("was away"))
        #expect(harness.agentState("ghost") == nil)

        let unknown = administer(&harness, .evict, "nobody")
        #expect(unknown.record.status == .noRoute)
        let invalid = administer(&harness, .evict, "a.b")
        #expect(invalid.record.status == .badRequest)
        #expect(invalid.record.detail.hasPrefix("invalid agent id"))
    }

    @Test("purge drops what a topic retains and keeps its sequence: a replay gets GAP, the next event continues, the journal gets a mark")
    func purge() throws {
        var harness = BrokerHarness(.forTests { $0.journaling = true })
        let game = harness.register("game")
        let topic = try #require(Topic(agent: "game", event: "on_error"))
        let other = try #require(Topic(agent: "game", event: "on_start"))
        for target in [topic, topic, topic, other] {
            _ = harness.send(.publish(Publish(eventID: .random(), topic: target, contentType: "")), body: TestPayload("abcd"), from: game)
        }

        let (record, _, marks) = administer(&harness, .purge, topic.description)
        #expect(record.status == .ok)
        #expect(record.detail.hasPrefix("purged 3 event(s), 12 payload bytes, of callback.game.on_error; its next event is #4"))
        #expect(marks == [.purged(topic, through: 3)])
        #expect(harness.snapshot.retainedEvents == 1 as UInt64, "the other topic keeps its event")

        let replay = harness.send(.replay(Replay(selector: .topic(topic), from: 1)), from: harness.newPeer())
        #expect(replay.map(\.header) == [.gap(Gap(topic: topic, from: 1, to: 3)), .replayEnd(ReplayEnd(selector: .topic(topic), events: 0, truncated: false))])
        let confirm = harness.send(.publish(Publish(eventID: .random(), topic: topic, contentType: "")), from: game)
        #expect(confirm.compactMap { if case .confirm(let c) = $0.header { c.sequence } else { nil } } == [4] as [UInt64])

        #expect(administer(&harness, .purge, "callback.game.never").record.status == .noRoute)
        #expect(administer(&harness, .purge, "callback.game").record.status == .badRequest)
    }

    @Test("a gateway is not evicted: BAD_REQUEST, and it stays registered")
    func gatewayNotEvicted() {
        var harness = BrokerHarness(.forTests { $0.gatewayToken = "tok"; $0.gatewayIDs = nil })
        let welcome = harness.send(.gatewayHello(GatewayHello(instance: 1, gatewayID: "gw", token: "tok")), from: harness.newPeer())
        #expect(welcome.only?.isWelcome == true)
        let refused = administer(&harness, .evict, "gw")
        #expect(refused.record.status == .badRequest && refused.record.detail.contains("is a gateway"), "\(refused.record.detail)")
        #expect(refused.sent.isEmpty, "the gateway was told nothing")
        #expect(harness.agentState("gw") == "alive")
    }

    @Test("with a journal and no room in the data directory, a purge is refused UNAVAILABLE and nothing is dropped")
    func purgeWithFullJournal() throws {
        var harness = BrokerHarness(.forTests { $0.journaling = true })
        let publisher = harness.register("game")
        let topic = try #require(Topic(agent: "game", event: "on_error"))
        _ = harness.send(.publish(Publish(eventID: .random(), topic: topic, contentType: "")), body: TestPayload("x"), from: publisher)
        let refused = administer(&harness, .purge, topic.description, journalHasRoom: false)
        #expect(refused.record.status == .unavailable && refused.record.detail.contains("data directory is full"))
        #expect(refused.marks.isEmpty)
        let replay = harness.send(.replay(Replay(selector: .topic(topic), from: 1)), from: harness.newPeer())
        #expect(replay.compactMap { if case .event(let e) = $0.header { e.sequence } else { nil } } == [1] as [UInt64])
        #expect(administer(&harness, .purge, topic.description).marks == [.purged(topic, through: 1)])
    }

    @Test("a purge read back from the journal drops the events before it, not those published after it")
    func purgeRestored() throws {
        var harness = BrokerHarness()
        let topic = try #require(Topic(agent: "game", event: "on_error"))
        for sequence in 1...5 as ClosedRange<UInt64> {
            let header = EventHeader(sequence: sequence, timestamp: 0, eventID: .random(), topic: topic, contentType: "")
            harness.core.restore(header, body: TestPayload("x"), age: 0, now: harness.now)
            if sequence == 3 { harness.core.restore(.purged(topic, through: 3)) }
        }
        let replay = harness.send(.replay(Replay(selector: .topic(topic), from: 1)), from: harness.newPeer())
        #expect(replay.first?.header == .gap(Gap(topic: topic, from: 1, to: 3)))
        #expect(replay.compactMap { if case .event(let e) = $0.header { e.sequence } else { nil } } == [4, 5] as [UInt64])
    }

    @Test("a purge journaled before the events it purged (one batch: marks are written first) still drops them when read back")
    func purgeRestoredBeforeItsEvents() throws {
        var harness = BrokerHarness()
        let topic = try #require(Topic(agent: "game", event: "on_error"))
        harness.core.restore(.purged(topic, through: 3))
        for sequence in 1...4 as ClosedRange<UInt64> {
            let header = EventHeader(sequence: sequence, timestamp: 0, eventID: .random(), topic: topic, contentType: "")
            harness.core.restore(header, body: TestPayload("x"), age: 0, now: harness.now)
        }
        let replay = harness.send(.replay(Replay(selector: .topic(topic), from: 1)), from: harness.newPeer())
        #expect(replay.first?.header == .gap(Gap(topic: topic, from: 1, to: 3)))
        #expect(replay.compactMap { if case .event(let e) = $0.header { e.sequence } else { nil } } == [4] as [UInt64])
    }
}
