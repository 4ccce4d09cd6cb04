import ParleyBrokerCore
import ParleyWire
import Testing

@Suite("Registration, takeover, heartbeats and liveness")
struct RegistrationTests {
    @Test("HELLO is answered with WELCOME stating the configured session parameters")
    func helloGetsWelcome() throws {
        var broker = BrokerHarness(.forTests { $0.heartbeatMilliseconds = 2_500; $0.liveness = 4; $0.maxBodyBytes = 4_096 })
        let (agent, messages) = broker.hello("planner", layer: "domain", capabilities: ["plan", "search.web"])
        let message = try #require(messages.only)
        #expect(message.peer == agent.peer)
        #expect(message.welcome == Welcome(heartbeatMilliseconds: 2_500, liveness: 4, maxBodyBytes: 4_096))
        #expect(message.hasNoBody)
        let listed = try #require(broker.snapshot.agents.only)
        #expect(listed.id == "planner")
        #expect(listed.layer == "domain")
        #expect(listed.capabilities == ["plan", "search.web"])
        #expect(listed.state == "alive")
        #expect(listed.inFlight == 0)
    }

    @Test("a live id claimed by another instance is refused with UNAUTHORIZED and the original keeps working")
    func duplicateLiveIDRefused() throws {
        var broker = BrokerHarness()
        let original = broker.register("solver", instance: 1)
        let requester = broker.register("asker")
        let (impostor, messages) = broker.hello("solver", instance: 2)

        // The holder is probed with a HEARTBEAT; it is reachable, so the claim is refused.
        #expect(messages.to(original).map(\.header) == [.heartbeat])
        let refusal = try #require(messages.to(impostor).only)
        #expect(refusal.error == ErrorNotice(status: .unauthorized, command: CommandCode.hello.rawValue, callbackID: .none))
        #expect(refusal.text?.contains("'solver'") == true)
        #expect(broker.core.counters.duplicateIDsRefused == 1)

        let delivered = broker.request(from: requester, to: .agent("solver"))
        #expect(delivered.only?.peer == original.peer)
        #expect(delivered.deliveries.count == 1)
        // The impostor got no registration: its messages are refused as from a stranger.
        #expect(broker.send(.heartbeat, from: impostor).only?.isBye == true)
        #expect(broker.snapshot.agents.count == 2)
    }

    @Test("a live id claimed by another instance is taken over when the probe finds the holder's connection gone (killed without BYE)")
    func contestedIDTakenFromUnreachableHolder() throws {
        var broker = BrokerHarness()
        let original = broker.register("solver", capabilities: ["solve"], instance: 1)
        let requester = broker.register("asker")
        let first = try #require(broker.request(from: requester, to: .capability("solve")).deliveries.only)
        #expect(first.requester == "asker")
        let restarted = Agent(id: "solver", layer: "app", instance: 2, peer: broker.newPeer())
        let hello = Header.hello(Hello(instance: 2, agentID: "solver", layer: "app", capabilities: ["solve"]))
        let messages = broker.direct { core, now in
            core.handle(hello, body: nil, from: restarted.peer, now: now)
            #expect(core.hasContestedHellos)
            core.clearOutbox()  // the reactor sends the probe HEARTBEAT: the holder's peer is unknown to the ROUTER now
            core.peerUnreachable(original.peer, now: now)
            core.settleContestedHellos(now: now)
        }
        #expect(messages.to(restarted).first?.isWelcome == true)
        // The request the dead holder was serving goes to the restarted process.
        #expect(messages.to(restarted).deliveries.only?.callbackID == first.callbackID)
        #expect(broker.core.counters.duplicateIDsRefused == 0)
        #expect(broker.snapshot.agents.map(\.state).sorted() == ["alive", "alive"])
    }

    @Test("a contested claim is withdrawn when its peer says BYE or HELLO again before it is settled")
    func contestedClaimWithdrawn() throws {
        var broker = BrokerHarness()
        let original = broker.register("solver", instance: 1)
        let claimant = broker.newPeer()
        let messages = broker.direct { core, now in
            core.handle(.hello(Hello(instance: 2, agentID: "solver", layer: "app", capabilities: [])), body: nil, from: claimant, now: now)
            core.handle(.bye, body: nil, from: claimant, now: now)
            core.peerUnreachable(original.peer, now: now)  // even a holder found gone does not give the id to a peer that left
            core.settleContestedHellos(now: now)
        }
        #expect(messages.filter { $0.peer == claimant }.isEmpty, "\(messages.map(\.header))")
        #expect(!broker.core.hasContestedHellos)
        #expect(broker.agentState("solver") == "away")
    }

    @Test("the same instance from a new peer takes over the registration")
    func sameInstanceTakesOver() throws {
        var broker = BrokerHarness()
        let old = broker.register("solver", instance: 77)
        let requester = broker.register("asker")
        let (new, messages) = broker.hello("solver", instance: 77)
        #expect(messages.only?.isWelcome == true)
        #expect(messages.only?.peer == new.peer)

        let delivered = broker.request(from: requester, to: .agent("solver"))
        #expect(delivered.only?.peer == new.peer)
        #expect(delivered.deliveries.first?.attempt == 1)
        // The old connection no longer speaks for the agent.
        let answer = broker.send(.heartbeat, from: old)
        #expect(answer.only?.isBye == true && answer.only?.peer == old.peer)
        #expect(broker.snapshot.agents.map(\.id) == ["asker", "solver"])
    }

    @Test("a takeover hands the work in flight to the new connection as attempt 2")
    func takeoverRedeliversInFlightWork() throws {
        var broker = BrokerHarness()
        let old = broker.register("solver", instance: 5)
        let requester = broker.register("asker")
        let id = CallbackID.random()
        let first = try #require(broker.request(from: requester, to: .agent("solver"), id: id).deliveries.only)

        let (new, messages) = broker.hello("solver", instance: 5)
        #expect(messages.count == 2)
        #expect(messages.first?.isWelcome == true)
        let second = try #require(messages.to(new).deliveries.only)
        #expect(second.callbackID == id)
        #expect(second.attempt == 2)
        #expect(second.deliveryID != first.deliveryID)

        #expect(broker.send(.reply(Reply(deliveryID: first.deliveryID, status: .ok)), from: new).isEmpty)
        #expect(broker.core.counters.lateReplies == 1)
        let result = try #require(broker.reply(from: new, to: second).only)
        #expect(result.peer == requester.peer)
        #expect(result.result == ResultHeader(callbackID: id, status: .ok, attempts: 2))
        #expect(old.peer != new.peer)
    }

    @Test("the in-flight count stays right across a takeover")
    func takeoverKeepsInFlightCount() throws {
        var broker = BrokerHarness()
        _ = broker.register("solver", instance: 5)
        let requester = broker.register("asker")
        _ = broker.request(from: requester, to: .agent("solver"))
        #expect(broker.inFlight("solver") == 1)
        let (new, messages) = broker.hello("solver", instance: 5)
        let redelivered = try #require(messages.deliveries.only)
        #expect(broker.inFlight("solver") == 1)
        _ = broker.reply(from: new, to: redelivered)
        #expect(broker.inFlight("solver") == 0)
    }

    @Test("a capability named twice in HELLO is offered once")
    func duplicateCapabilities() throws {
        var broker = BrokerHarness()
        let requester = broker.register("asker")
        let worker = broker.register("worker", capabilities: ["x", "y", "x"])
        #expect(broker.snapshot.agents.first { $0.id == "worker" }?.capabilities == ["x", "y"])
        let message = try #require(broker.request(from: requester, to: .capability("x")).only)
        #expect(message.peer == worker.peer)
        _ = broker.send(.bye, from: worker)
        #expect(broker.request(from: requester, to: .capability("x")).only?.result?.status == .noRoute)
    }

    @Test("a peer that registers under another id gives up its old one")
    func peerChangesID() {
        var broker = BrokerHarness()
        let first = broker.register("alpha")
        let (_, messages) = broker.hello("beta", peer: first.peer)
        #expect(messages.only?.isWelcome == true)
        #expect(broker.snapshot.agents.map(\.id) == ["beta"])
    }

    @Test("a HEARTBEAT from an unregistered peer is answered with BYE only")
    func strangerHeartbeatGetsBye() throws {
        var broker = BrokerHarness()
        let stranger = broker.newPeer()
        let message = try #require(broker.send(.heartbeat, from: stranger).only)
        #expect(message.peer == stranger)
        #expect(message.isBye)
    }

    @Test("a REQUEST from an unregistered peer gets RESULT UNAVAILABLE and BYE")
    func strangerRequestGetsUnavailable() throws {
        var broker = BrokerHarness()
        _ = broker.register("solver")
        let stranger = broker.newPeer()
        let id = CallbackID.random()
        let messages = broker.send(.request(Request(callbackID: id, kind: .help, timeoutMilliseconds: 1_000,
                                                    target: .agent("solver"), contentType: "")),
                                   body: TestPayload("x"), from: stranger)
        #expect(messages.count == 2)
        #expect(messages.allSatisfy { $0.peer == stranger })
        #expect(messages.first?.result == ResultHeader(callbackID: id, status: .unavailable, attempts: 0))
        #expect(messages.first?.text?.contains("HELLO") == true)
        #expect(messages.last?.isBye == true)
        #expect(broker.core.counters.accepted == 0)
        #expect(broker.core.counters.outcomes(.unavailable) == 1)
    }

    @Test("BYE and STATUS from an unregistered peer get no answer from the core")
    func strangerByeAndStatusIgnored() {
        var broker = BrokerHarness()
        let stranger = broker.newPeer()
        #expect(broker.send(.bye, from: stranger).isEmpty)
        #expect(broker.send(.status, from: stranger).isEmpty)
    }

    @Test("commands only the broker sends are refused with ERROR BAD_REQUEST naming the command",
          arguments: [Header.welcome(Welcome(heartbeatMilliseconds: 1, liveness: 1, maxBodyBytes: 1)),
                      .deliver(Deliver(deliveryID: 1, callbackID: .none, kind: .help, attempt: 1, timeoutMilliseconds: 1,
                                       requester: "a", requesterLayer: "b", contentType: "")),
                      .extended(Extended(callbackID: .none, timeoutMilliseconds: 1)), .revoke(deliveryID: 1),
                      .result(ResultHeader(callbackID: .none, status: .ok, attempts: 1)),
                      .error(ErrorNotice(status: .ok, command: 0)), .statusReply,
                      .confirm(Confirm(eventID: .none, sequence: 1, timestamp: 1)),
                      .beacon(Beacon(topic: Topic(agent: "a", event: "e")!, latest: 1))])
    func brokerOnlyCommandsRefused(_ header: Header) throws {
        var broker = BrokerHarness()
        let agent = broker.register("confused")
        let message = try #require(broker.send(header, from: agent).only)
        #expect(message.peer == agent.peer)
        #expect(message.error == ErrorNotice(status: .badRequest, command: header.code.rawValue, callbackID: .none))
        #expect(broker.core.counters.malformed == 1)
        #expect(broker.agentState("confused") == "alive")
    }

    @Test("BYE removes the agent: it is no longer listed and requests to it find no route")
    func byeUnregisters() throws {
        var broker = BrokerHarness()
        let leaving = broker.register("leaving", capabilities: ["x"])
        let requester = broker.register("asker")
        #expect(broker.send(.bye, from: leaving).isEmpty)
        #expect(broker.snapshot.agents.map(\.id) == ["asker"])
        #expect(broker.request(from: requester, to: .agent("leaving")).results.only?.status == .noRoute)
        #expect(broker.request(from: requester, to: .capability("x")).results.only?.status == .noRoute)
        #expect(broker.send(.heartbeat, from: leaving).only?.isBye == true)
    }

    @Test("live agents get HEARTBEAT on each heartbeat tick, and not before")
    func heartbeatsOnTick() {
        var broker = BrokerHarness()
        let a = broker.register("a")
        let b = broker.register("b")
        #expect(broker.core.nextWakeup == BrokerHarness.start + 10_000)
        #expect(broker.advance(by: 9_999).isEmpty)
        let beats = broker.advance(by: 1)
        #expect(beats.count == 2)
        #expect(beats.allSatisfy { $0.isHeartbeat })
        #expect(Set(beats.map(\.peer)) == [a.peer, b.peer])
        #expect(broker.core.nextWakeup == BrokerHarness.start + 20_000)
        #expect(broker.advance(by: 9_999).isEmpty)
    }

    @Test("an agent silent for more than liveness × heartbeat is marked away; one that heartbeats stays alive")
    func silenceMeansAway() {
        var broker = BrokerHarness()
        let talker = broker.register("talker")
        let silent = broker.register("silent")
        for _ in 1...3 {
            broker.heartbeat(talker)
            let beats = broker.advance(by: 10_000)
            // Exactly 30 s of silence is still within liveness.
            #expect(Set(beats.map(\.peer)) == [talker.peer, silent.peer])
        }
        #expect(broker.agentState("silent") == "alive")
        broker.heartbeat(talker)
        let beats = broker.advance(by: 10_000)
        #expect(beats.map(\.peer) == [talker.peer])
        #expect(broker.agentState("silent") == "away")
        #expect(broker.agentState("talker") == "alive")
        // The away agent's old connection must register again.
        #expect(broker.send(.heartbeat, from: silent).only?.isBye == true)
    }

    @Test("an agent away for longer than the retention is forgotten")
    func awayAgentForgotten() {
        var broker = BrokerHarness(.forTests { $0.awayRetentionMilliseconds = 25_000 })
        let agent = broker.register("gone")
        _ = broker.direct { core, now in core.peerUnreachable(agent.peer, now: now) }
        #expect(broker.agentState("gone") == "away")
        _ = broker.advance(by: 20_000)
        #expect(broker.agentState("gone") == "away")
        _ = broker.advance(by: 10_000)
        #expect(broker.agentState("gone") == nil)
        #expect(broker.snapshot.agents.isEmpty)
    }

    @Test("an agent that went away may come back with a new instance")
    func awayIDReusableByNewInstance() {
        var broker = BrokerHarness()
        let first = broker.register("worker", instance: 1)
        _ = broker.direct { core, now in core.peerUnreachable(first.peer, now: now) }
        _ = broker.register("worker", instance: 2)
        #expect(broker.agentState("worker") == "alive")
        #expect(broker.core.counters.duplicateIDsRefused == 0)
    }
}

@Suite("Away agents are bounded")
struct AwayAgentBoundTests {
    @Test("over maxAwayAgents the agent away longest is forgotten, and requests waiting for it end UNAVAILABLE")
    func oldestAwayForgotten() throws {
        var broker = BrokerHarness(.forTests { $0.maxAwayAgents = 3 })
        let asker = broker.register("asker")
        let gone = (0..<5).map { broker.register("gone-\($0)") }
        _ = broker.direct { core, now in core.peerUnreachable(gone[0].peer, now: now) }
        let id = CallbackID.random()
        #expect(broker.request(from: asker, to: .agent("gone-0"), id: id).isEmpty, "waits for the away agent")
        for agent in gone.dropFirst() {
            _ = broker.advance(by: 1)
            _ = broker.direct { core, now in core.peerUnreachable(agent.peer, now: now) }
        }
        #expect(broker.agentState("gone-0") == nil && broker.agentState("gone-1") == nil)
        #expect((2..<5).allSatisfy { broker.agentState("gone-\($0)") == "away" })
        #expect(broker.snapshot.agents.filter { $0.state == "away" }.count == 3)
        #expect(broker.core.pendingCount == 0, "the request for the forgotten agent ended")
        // One comes back: it is no longer counted as away, and nobody else is forgotten for it.
        _ = broker.register("gone-2", instance: gone[2].instance)
        #expect(broker.snapshot.agents.filter { $0.state == "away" }.count == 2 && broker.agentState("gone-3") == "away")
    }
}
